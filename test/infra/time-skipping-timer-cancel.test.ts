/**
 * A timer cancelled by the workflow task during which it fired (sdk-java#2606). The real server
 * replaces the buffered TimerFired with TimerCanceled; the Java test server 1.38.0 refused the task's
 * completion (`invalid history builder state for action`) and then held time still for good, which
 * hung test/workflows/profile-deletion-races (an answer waking `condition(woken, timeout)` as its
 * timer fired). infra/temporal-binaries.ts builds the test server with
 * infra/temporal-test-server-1.38.0.patch. This drives the race through the raw workflow service,
 * one step at a time so the order is certain, on the patched test server and, for reference, on the
 * real one (the dev server).
 */
import { randomUUID } from 'node:crypto';
import { msNumberToTs } from '@temporalio/common/lib/time';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createDevServerEnv, createTimeSkippingEnv } from '../../infra/temporal-servers';

const { CommandType, EventType } = proto.temporal.api.enums.v1;
type Command = proto.temporal.api.command.v1.ICommand;
const NAMESPACE = 'default';
const IDENTITY = 'timer-cancel-test';
/** Long enough that the held task is taken before the timer fires, even on a busy machine. */
const TIMER_MS = 3_000;
/** The workflow type: started by reference, never run (the test answers its tasks). */
const timerCancelProbe = async () => {};

/** The next workflow task of the queue (no worker runs: the test is the worker). */
async function pollTask(env: TestWorkflowEnvironment, taskQueue: string) {
  // A long poll: the real server asks for a deadline.
  const task = await env.connection.withDeadline(Date.now() + 30_000, () =>
    env.connection.workflowService.pollWorkflowTaskQueue({
      namespace: NAMESPACE,
      taskQueue: { name: taskQueue },
      identity: IDENTITY,
    }),
  );
  expect(task.taskToken?.length).toBeGreaterThan(0);
  return { token: task.taskToken!, events: (task.history?.events ?? []).map((e) => e.eventType) };
}

async function complete(env: TestWorkflowEnvironment, taskToken: Uint8Array, commands: Command[]) {
  await env.connection.workflowService.respondWorkflowTaskCompleted({
    namespace: NAMESPACE,
    taskToken,
    commands,
    identity: IDENTITY,
  });
}

/** Wakes the workflow with a signal its tasks will show (any name: no handler runs it). */
async function wake(env: TestWorkflowEnvironment, workflowId: string) {
  await env.connection.workflowService.signalWorkflowExecution({
    namespace: NAMESPACE,
    workflowExecution: { workflowId },
    signalName: 'wake',
    identity: IDENTITY,
  });
}

async function eventTypes(env: TestWorkflowEnvironment, workflowId: string) {
  const { history } = await env.connection.workflowService.getWorkflowExecutionHistory({
    namespace: NAMESPACE,
    execution: { workflowId },
  });
  return (history?.events ?? []).map((e) => e.eventType);
}

async function timerFiresDuringTheTaskThatCancelsIt(env: TestWorkflowEnvironment) {
  const taskQueue = `timer-cancel-${randomUUID()}`;
  const workflowId = `timer-cancel-${randomUUID()}`;
  const handle = await env.client.workflow.start(timerCancelProbe, { taskQueue, workflowId });
  await complete(env, (await pollTask(env, taskQueue)).token, [
    {
      commandType: CommandType.COMMAND_TYPE_START_TIMER,
      startTimerCommandAttributes: { timerId: '1', startToFireTimeout: msNumberToTs(TIMER_MS) },
    },
  ]);

  // A signal wakes the workflow; its task is taken and held while the timer fires in real time (the
  // test server skips no time while a workflow task is outstanding).
  await wake(env, workflowId);
  const held = await pollTask(env, taskQueue);
  expect(held.events).not.toContain(EventType.EVENT_TYPE_TIMER_FIRED);
  await new Promise((resolve) => setTimeout(resolve, TIMER_MS + 1_000));

  // Woken by the signal, the workflow cancels its timer, as `condition(fn, timeout)` does.
  await complete(env, held.token, [
    { commandType: CommandType.COMMAND_TYPE_CANCEL_TIMER, cancelTimerCommandAttributes: { timerId: '1' } },
  ]);
  const types = await eventTypes(env, workflowId);
  expect(types).toContain(EventType.EVENT_TYPE_TIMER_CANCELED);
  expect(types).not.toContain(EventType.EVENT_TYPE_TIMER_FIRED);

  // Not stuck: another signal's task completes the workflow, and a result awaited (with time
  // skipping, on the test server) ends.
  await wake(env, workflowId);
  await complete(env, (await pollTask(env, taskQueue)).token, [
    {
      commandType: CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
      completeWorkflowExecutionCommandAttributes: {},
    },
  ]);
  await expect(handle.result()).resolves.toBeUndefined();
  expect(await eventTypes(env, workflowId)).not.toContain(EventType.EVENT_TYPE_TIMER_FIRED);
}

describe('a timer cancelled by the workflow task during which it fired', () => {
  it('the time-skipping test server records TimerCanceled in its place and goes on', async () => {
    const env = await createTimeSkippingEnv();
    try {
      await timerFiresDuringTheTaskThatCancelsIt(env);
    } finally {
      await env.teardown();
    }
  }, 120_000);

  it('the real server (dev server) does the same', async () => {
    const { env, teardown } = await createDevServerEnv();
    try {
      await timerFiresDuringTheTaskThatCancelsIt(env);
    } finally {
      await teardown();
    }
  }, 120_000);
});
