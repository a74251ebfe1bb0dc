import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import type { Next } from '@temporalio/common';
import {
  type ActivityExecuteInput,
  type ActivityInboundCallsInterceptor,
  type NativeConnection,
  Worker,
  type WorkerOptions,
} from '@temporalio/worker';
import { type ActivityDeps, createActivities } from '../activities';
import { createRedemptionAnnouncer } from '../activities/subscription';
import { withoutQueryParams } from '../db/errors';
import { createRedemptionRelay } from '../outbox/redemption-relay';

/** Failed activities end up in workflow histories: keep the bound values of failed queries out. */
class ScrubQueryParams implements ActivityInboundCallsInterceptor {
  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
    try {
      return await next(input);
    } catch (error) {
      throw withoutQueryParams(error);
    }
  }
}

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/**
 * The workflow modules are evaluated once per workflow thread, not once per workflow (issue 15: a
 * redemption's new workflow spent about 0.6 ms evaluating them). Safe because no module of the
 * workflow code keeps state of its own (test/workflows/preloaded-modules.test.ts); the SDK freezes
 * what they export.
 */
export const WORKFLOW_BUNDLER_OPTIONS = { preloadModules: [workflowsPath] };

/**
 * How the worker polls (every worker of the product, and bench/redemption's floor worker): as many
 * polls as the server's feedback asks for, instead of the SDK's fixed ten, of which two wait on the
 * task queue and eight on the worker's sticky queue. With the fixed split, a burst of new workflows
 * (each first task comes through the task queue: redemptions' update-with-starts, a rollout's IQs)
 * ended with its last tasks waiting about 2 s for a poll (issue 15: 512 no-op update-with-starts from
 * 32 clients, p99 2.8 s and 50 a second; with autoscaling polls, p99 0.6 s and 95 a second). The price:
 * polls that cycle while the worker idles, about 12 ms of CPU a second on the cluster instead of 2.5
 * (ten fixed polls split half and half between the queues cost as much).
 */
export const POLLING = {
  workflowTaskPollerBehavior: { type: 'autoscaling' },
  activityTaskPollerBehavior: { type: 'autoscaling' },
} as const satisfies Pick<WorkerOptions, 'workflowTaskPollerBehavior' | 'activityTaskPollerBehavior'>;

/**
 * One worker runs every workflow and activity of the product. Tests hand in a prebuilt bundle so
 * the workflow code is bundled once per run.
 */
export function createWorker(opts: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  workflowBundle?: WorkerOptions['workflowBundle'];
  /**
   * Tuning for special runs, e.g. no workflow cache so a restart must replay from history, or a short
   * sticky timeout so a killed worker's cached workflows move on quickly.
   */
  tuning?: Pick<WorkerOptions, 'maxCachedWorkflows' | 'stickyQueueScheduleToStartTimeout'>;
  /** How long in-flight activities may run on after shutdown is asked (WORKER_SHUTDOWN_GRACE_SECONDS). */
  shutdownGraceMs?: number;
}): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    // Without a relay of the process's own (worker/main.ts: it also sweeps), the claims kick this one.
    activities: createActivities({
      ...opts.deps,
      redemptions:
        opts.deps.redemptions ??
        createRedemptionRelay({
          db: opts.deps.db,
          temporal: new Client({ connection: opts.connection, namespace: opts.namespace }),
          taskQueue: opts.taskQueue,
          announce: createRedemptionAnnouncer(opts.deps),
        }),
    }),
    interceptors: { activity: [() => ({ inbound: new ScrubQueryParams() })] },
    ...POLLING,
    // The SDK sends an activity's heartbeats at most every 0.8 × its timeout: a rollout wave's 10 s
    // timeout (workflows/rollout) would leave 2 s of slack for a busy event loop; 2 s leaves 8.
    maxHeartbeatThrottleInterval: '2 seconds',
    ...(opts.shutdownGraceMs !== undefined ? { shutdownGraceTime: opts.shutdownGraceMs } : {}),
    ...(opts.workflowBundle
      ? { workflowBundle: opts.workflowBundle }
      : { workflowsPath, bundlerOptions: WORKFLOW_BUNDLER_OPTIONS }),
    ...opts.tuning,
  });
}
