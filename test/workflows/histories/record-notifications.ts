/**
 * Records notifications histories with the workflow code of this checkout, for the replay test of the
 * code that comes after it (test/workflows/notifications-replay.test.ts). Run it before changing
 * workflows/notifications/, on the code before the change:
 *
 *   npx tsx test/workflows/histories/record-notifications.ts <label>
 *
 * On the time-skipping server with a worker in this process. The activity is a local stand-in that
 * answers as the real one does (a history records only its result): the owner's email is not what
 * is recorded here, the workflow's decisions are. Two runs: one event emailed at once, then three
 * within the window sent as one digest, then a quiet window ends the workflow; and a run that
 * continues as new under a lowered history limit. Each run is written as
 * `notifications-<label>-<run>[-<n>].binpb` (one file per run of a continue-as-new chain).
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import protos from '@temporalio/proto';
import { Runtime, Worker } from '@temporalio/worker';
import type { NotificationActivities } from '../../../activities/notifications';
import { createTimeSkippingEnv } from '../../../infra/temporal-servers';
import { workflowsPath } from '../../../worker/create-worker';
import { signalNotificationEvent } from '../../../workflows/client/notifications';
import { notificationsWorkflowId } from '../../../workflows/ids';
import { notificationEventSignal } from '../../../workflows/notifications/messages';
import { notificationsWorkflow } from '../../../workflows/notifications/workflow';

const label = process.argv[2];
if (!label || !/^[a-z0-9-]+$/.test(label)) {
  console.error(
    'usage: npx tsx test/workflows/histories/record-notifications.ts <label, e.g. before-metadata>',
  );
  process.exit(2);
}

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
Runtime.install({ logger: quiet as never });
const env = await createTimeSkippingEnv();
const sent: Array<{ siteId: string; events: number }> = [];
const activities: NotificationActivities = {
  async sendEventNotification(input) {
    sent.push({ siteId: input.siteId, events: input.eventIds.length });
    return { sent: input.eventIds.length > 0, events: input.eventIds.length };
  },
};

try {
  const taskQueue = 'record';
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    workflowsPath,
    activities,
  });
  await worker.runUntil(async () => {
    const runs: Array<[name: string, maxHistoryEvents: number | undefined]> = [
      ['immediate-digest-idle', undefined],
      ['continue-as-new', 12],
    ];
    for (const [name, maxHistoryEvents] of runs) {
      const siteId = randomUUID();
      const signal = (eventId: string) =>
        maxHistoryEvents === undefined
          ? signalNotificationEvent(env.client, { taskQueue, siteId, eventId, windowSeconds: 60 })
          : env.client.workflow.signalWithStart(notificationsWorkflow, {
              workflowId: notificationsWorkflowId(siteId),
              taskQueue,
              args: [{ siteId, windowSeconds: 60, maxHistoryEvents }],
              signal: notificationEventSignal,
              signalArgs: [{ eventId }],
            });
      await signal(randomUUID());
      await env.sleep(1_000);
      for (let i = 0; i < 3; i++) await signal(randomUUID());
      const handle = env.client.workflow.getHandle(notificationsWorkflowId(siteId));
      await handle.result();
      // Every run of the chain, first to last.
      const chain: string[] = [];
      for (let runId: string | undefined = (await handle.describe()).runId; runId; ) {
        chain.unshift(runId);
        const first: protos.temporal.api.history.v1.IHistory = await env.client.workflow
          .getHandle(notificationsWorkflowId(siteId), runId)
          .fetchHistory();
        const started:
          | protos.temporal.api.history.v1.IWorkflowExecutionStartedEventAttributes
          | null
          | undefined = first.events?.[0]?.workflowExecutionStartedEventAttributes;
        runId = started?.continuedExecutionRunId || undefined;
      }
      for (const [n, runId] of chain.entries()) {
        const history = await env.client.workflow
          .getHandle(notificationsWorkflowId(siteId), runId)
          .fetchHistory();
        const file = `notifications-${label}-${name}${chain.length > 1 ? `-${n}` : ''}.binpb`;
        await writeFile(
          new URL(file, import.meta.url),
          protos.temporal.api.history.v1.History.encode(history).finish(),
        );
        console.log(`${file}: ${history.events?.length} events`);
      }
    }
  });
  console.log(`emails the stand-in was asked for: ${JSON.stringify(sent.map((s) => s.events))}`);
} finally {
  await env.teardown();
}
