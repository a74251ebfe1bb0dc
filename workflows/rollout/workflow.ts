import {
  ActivityCancellationType,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { RolloutActivities, WaveInput, WaveResult } from '../../activities/rollout';
import { emptyCounts, type RolloutPolicy, shouldAbort, waveSize } from '../../domain/rollout';
import { ACTIVITY_OPTIONS } from '../activity-options';
import { shouldContinueAsNew } from '../continue-as-new';
import { progressQuery, type RolloutProgress, wakeSignal } from './messages';
import { oneStatusWriter, sideStatusWriter } from './status';

export interface RolloutWorkflowInput {
  rolloutId: string;
  /**
   * Carried across continue-as-new; `waveStartedAtMs` when the run before handed over inside the
   * wave `progress.wave`, which this run starts again from where the database has it.
   */
  carried?: { progress: RolloutProgress; policy: RolloutPolicy; waveStartedAtMs?: number };
  /** Tests lower it to exercise continue-as-new; otherwise the server's suggestion decides. */
  maxHistoryEvents?: number;
}

// One proxy per step, each with its summary for the Temporal UI's timeline.
const resolving = proxyActivities<RolloutActivities>({
  ...ACTIVITY_OPTIONS,
  summary: 'resolve the target IQs',
});
const finishing = proxyActivities<RolloutActivities>({
  ...ACTIVITY_OPTIONS,
  summary: 'record the end; cancel what did not finish',
});
const reporting = proxyActivities<RolloutActivities>({
  ...ACTIVITY_OPTIONS,
  summary: 'email the report to support',
});

const waveWorkflowId = (rolloutId: string, wave: number) => `rollout-${rolloutId}-wave-${wave}`;

/** A wave's workflow input: the activity's, and the tests' history limit. */
export type WaveWorkflowInput = WaveInput & { maxHistoryEvents?: number };

/**
 * `rollout-<rolloutId>` (F3–F5): plans waves over the queued IQs and runs each as a child workflow,
 * checking the failure rate after each. Per-IQ work happens in the wave's activity, so the histories
 * grow with the number of waves, not of IQs; continue-as-new keeps even a long run of waves bounded,
 * and (since `rollout-continue-as-new-in-wave`) a long wave under many pauses and resumes too.
 *
 * Since `rollout-sliding-window` (issue 15) the waves slide: the canary still runs alone and ends
 * when all its IQs finished, but a later wave hands back once all its IQs started, and the next one
 * fills the slots they free as they finish, within a window that grows with the IQs finished
 * (`windowLimit`); the last wave ends when everything finished. Runs of earlier code keep waves that
 * wait for their slowest IQ.
 */
export async function rolloutWorkflow(input: RolloutWorkflowInput): Promise<RolloutProgress> {
  const { rolloutId } = input;
  const progress: RolloutProgress = input.carried?.progress ?? {
    rolloutId,
    status: 'running',
    abortReason: null,
    wave: 0,
    nextPosition: 0,
    planned: 0,
    counts: emptyCounts(),
  };
  // The chain's start: the same in every run after continue-as-new.
  progress.startedAt ??= workflowInfo().startTime.toISOString();
  progress.finishedAt ??= null;
  progress.release ??= null;
  let policy = input.carried?.policy;
  let currentWave: string | undefined;

  // Signals change the status between awaits: read it through a call, not a narrowed property.
  const aborted = () => progress.status === 'aborted';
  setHandler(progressQuery, () => progress);
  const wake = async () => {
    if (!currentWave) return;
    await getExternalWorkflowHandle(currentWave)
      .signal(wakeSignal)
      .catch(() => {}); // the wave already ended: nothing to wake
  };
  const status = patched('rollout-status-one-writer')
    ? oneStatusWriter(progress, wake)
    : sideStatusWriter(progress, wake);

  if (!policy) {
    const resolved = await resolving.resolveRolloutTargets({ rolloutId });
    policy = resolved.policy;
    // Absent from the results recorded by earlier code.
    progress.release = resolved.release ?? null;
    progress.counts = resolved.counts;
    progress.planned = resolved.counts.queued;
  }

  const sliding = patched('rollout-sliding-window');
  // N5: since `rollout-continue-as-new-in-wave` a long history hands over inside a wave too, where
  // each pause and resume adds to it (runs of earlier code continue as new only between waves).
  const inWave = patched('rollout-continue-as-new-in-wave');
  let waveStartedAtMs = input.carried?.waveStartedAtMs;
  while (progress.nextPosition < progress.planned) {
    // A sliding wave starts even while paused: it watches the updates still in flight to their end.
    if (!sliding) await condition(() => progress.status !== 'paused');
    if (aborted()) break;
    const from = progress.nextPosition;
    const to = Math.min(progress.planned, from + waveSize(progress.wave, policy));
    currentWave = waveWorkflowId(rolloutId, progress.wave);
    // A wave started again after a hand-over keeps its start: the offline deadline counts from it.
    const startedAtMs = waveStartedAtMs ?? Date.now();
    waveStartedAtMs = undefined;
    const child = {
      workflowId: currentWave,
      staticSummary: `wave ${progress.wave}: IQs ${from + 1}–${to} of ${progress.planned}`,
      args: [
        {
          rolloutId,
          from,
          to,
          policy,
          startedAtMs,
          ...(sliding ? { sliding: { last: to === progress.planned } } : {}),
          ...(inWave && input.maxHistoryEvents ? { maxHistoryEvents: input.maxHistoryEvents } : {}),
        },
      ] as [WaveWorkflowInput],
    };
    const result = inWave
      ? await waveOrHandOver(child, input.maxHistoryEvents)
      : await executeChild(rolloutWaveWorkflow, child);
    currentWave = undefined;
    if (result === 'hand-over') {
      await status.settled();
      return continueAsNew<typeof rolloutWorkflow>({
        ...input,
        carried: { progress, policy, waveStartedAtMs: startedAtMs },
      });
    }
    progress.counts = result.counts;
    progress.wave++;
    progress.nextPosition = to;
    log.info('wave ended', {
      rolloutId,
      wave: progress.wave - 1,
      outcome: result.outcome,
      counts: result.counts,
    });
    // F4: the failure rate after each wave (the wave also stops early when it crosses the threshold).
    if (!aborted() && (result.outcome === 'threshold' || shouldAbort(result.counts, policy))) {
      await status.abort('failure_threshold');
    }
    if (aborted()) break;

    if (shouldContinueAsNew(input.maxHistoryEvents)) {
      await status.settled();
      return continueAsNew<typeof rolloutWorkflow>({ ...input, carried: { progress, policy } });
    }
  }

  // The final status and the canceling of what did not finish are written together.
  await status.finish((final) =>
    finishing.finishRollout({ rolloutId, status: final, reason: progress.abortReason }),
  );
  progress.finishedAt = new Date().toISOString();
  log.info('rollout ended', {
    rolloutId,
    status: progress.status,
    abortReason: progress.abortReason,
    counts: progress.counts,
  });
  await reporting.sendRolloutReport({ rolloutId });
  await condition(allHandlersFinished);
  return progress;
}

/**
 * Runs a wave, unless the rollout's history grows long meanwhile (controls add to it while a wave
 * runs): then the wave is canceled, and waited for until its activity has stopped, so that the
 * wave the next run starts again over the same positions never runs beside it. A wave that ended
 * before its cancel took effect answers as it ended.
 */
async function waveOrHandOver(
  child: { workflowId: string; staticSummary: string; args: [WaveWorkflowInput] },
  maxHistoryEvents: number | undefined,
): Promise<WaveResult | 'hand-over'> {
  const scope = new CancellationScope();
  const running = scope.run(() => executeChild(rolloutWaveWorkflow, child));
  let ended = false;
  const end = () => {
    ended = true;
  };
  void running.then(end, end);
  await condition(() => ended || shouldContinueAsNew(maxHistoryEvents));
  const handingOver = !ended;
  // The child's cancellation waits for it to close, and the wave's for its activity to stop.
  if (handingOver) scope.cancel();
  try {
    return await running;
  } catch (error) {
    if (handingOver && isCancellation(error)) return 'hand-over';
    throw error;
  }
}

/** The wait's summary in the Web UI's timeline (issue 16): what it waits for, until when (ISO). */
const waitSummary = (result: Extract<WaveResult, { outcome: 'wait' }>) => {
  const until = new Date(Date.now() + result.waitMs).toISOString();
  return result.until === 'offline_deadline'
    ? `waiting for offline IQs until their deadline ${until}`
    : `waiting for maintenance window until ${until}`;
};

/**
 * One wave (`rollout-<rolloutId>-wave-<n>`): a long activity updates its IQs in batches and
 * heartbeats. It returns to this workflow only to wait: for a maintenance window to open (a durable
 * timer, so it survives restarts and can be skipped in tests; since `rollout-wait-summary` the timer
 * says what it waits for and until when) or, when paused, for the parent's wake.
 */
export async function rolloutWaveWorkflow(input: WaveWorkflowInput): Promise<WaveResult> {
  let wakes = 0;
  setHandler(wakeSignal, () => {
    wakes++;
  });
  const { maxHistoryEvents, ...waveInput } = input;
  const { policy } = input;
  // N5: since `rollout-continue-as-new-in-wave` a wave whose history grows long (a wait or a pause
  // at each turn) continues as new with the same input; and a canceled wave (its rollout hands
  // over) closes only once its activity has stopped.
  const inWave = patched('rollout-continue-as-new-in-wave');
  // Long enough for the whole wave: the offline deadline plus every attempt's timeout, and slack.
  const waveSeconds =
    policy.offlineDeadlineSeconds + (policy.retries + 1) * policy.inProgressTimeoutSeconds + 3600;
  const wave = proxyActivities<RolloutActivities>({
    summary: `update IQs ${input.from + 1}–${input.to}`,
    startToCloseTimeout: `${waveSeconds} seconds`,
    // A worker killed mid-wave is noticed by this timeout, and the wave waits for it (30 s held a
    // rollout about 20 s longer under the chaos test's kill); the worker heartbeats every 2 s.
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
    ...(inWave ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {}),
  });
  for (;;) {
    const seen = wakes;
    const result = await wave.runRolloutWave(waveInput);
    if (result.outcome === 'paused') await condition(() => wakes > seen);
    else if (result.outcome === 'wait') {
      if (patched('rollout-wait-summary'))
        await condition(() => wakes > seen, result.waitMs, { summary: waitSummary(result) });
      else await condition(() => wakes > seen, result.waitMs);
    } else return result;
    if (inWave && shouldContinueAsNew(maxHistoryEvents)) {
      return continueAsNew<typeof rolloutWaveWorkflow>(input);
    }
  }
}
