import {
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { RolloutActivities, WaveResult } from '../../activities/rollout';
import { emptyCounts, type RolloutPolicy, shouldAbort, waveSize } from '../../domain/rollout';
import { ACTIVITY_OPTIONS } from '../activity-options';
import { shouldContinueAsNew } from '../continue-as-new';
import { RolloutStatus as RolloutStatusKey } from '../search-attributes';
import {
  abortSignal,
  pauseSignal,
  progressQuery,
  type RolloutProgress,
  type RolloutStatus,
  resumeSignal,
  wakeSignal,
} from './messages';

export interface RolloutWorkflowInput {
  rolloutId: string;
  /** Carried across continue-as-new. */
  carried?: { progress: RolloutProgress; policy: RolloutPolicy };
  /** Tests lower it to exercise continue-as-new; otherwise the server's suggestion decides. */
  maxHistoryEvents?: number;
}

const acts = proxyActivities<RolloutActivities>(ACTIVITY_OPTIONS);

const waveWorkflowId = (rolloutId: string, wave: number) => `rollout-${rolloutId}-wave-${wave}`;

/**
 * `rollout-<rolloutId>` (F3–F5): plans waves over the queued IQs and runs each as a child workflow,
 * checking the failure rate after each. Per-IQ work happens in the wave's activity, so the histories
 * grow with the number of waves, not of IQs; continue-as-new keeps even a long run of waves bounded.
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
  let policy = input.carried?.policy;
  /** The status the database holds (the wave activities read it there). */
  let stored: RolloutStatus = progress.status;
  let currentWave: string | undefined;

  // Signals change the status between awaits: read it through a call, not a narrowed property.
  const aborted = () => progress.status === 'aborted';
  const publish = () => upsertSearchAttributes([{ key: RolloutStatusKey, value: progress.status }]);
  const setStatus = (status: RolloutStatus, reason?: string) => {
    progress.status = status;
    if (reason) progress.abortReason = reason;
    publish();
  };
  setHandler(progressQuery, () => progress);
  setHandler(pauseSignal, () => {
    if (progress.status === 'running') setStatus('paused');
  });
  setHandler(resumeSignal, () => {
    if (progress.status === 'paused') setStatus('running');
  });
  setHandler(abortSignal, () => {
    if (progress.status === 'running' || progress.status === 'paused') setStatus('aborted', 'support');
  });
  publish();

  // One writer of the status, in order: a quick pause/resume never lands in the database reversed.
  // A woken wave re-reads the database, so it is woken only after the write.
  void (async () => {
    for (;;) {
      await condition(() => progress.status !== stored);
      const status = progress.status;
      if (status === 'completed') return; // set only together with `stored`, after the final write
      await acts.setRolloutStatus({
        rolloutId,
        status,
        ...(progress.abortReason ? { reason: progress.abortReason } : {}),
      });
      stored = status;
      if (currentWave && status !== 'paused') {
        await getExternalWorkflowHandle(currentWave)
          .signal(wakeSignal)
          .catch(() => {}); // the wave already ended: nothing to wake
      }
    }
  })();

  if (!policy) {
    const resolved = await acts.resolveRolloutTargets({ rolloutId });
    policy = resolved.policy;
    progress.counts = resolved.counts;
    progress.planned = resolved.counts.queued;
  }

  while (progress.nextPosition < progress.planned) {
    await condition(() => progress.status !== 'paused');
    if (aborted()) break;
    const from = progress.nextPosition;
    const to = Math.min(progress.planned, from + waveSize(progress.wave, policy));
    currentWave = waveWorkflowId(rolloutId, progress.wave);
    const result: WaveResult = await executeChild(rolloutWaveWorkflow, {
      workflowId: currentWave,
      args: [{ rolloutId, from, to, policy, startedAtMs: Date.now() }],
    });
    currentWave = undefined;
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
      setStatus('aborted', 'failure_threshold');
    }
    if (aborted()) break;

    if (shouldContinueAsNew(input.maxHistoryEvents)) {
      await condition(() => stored === progress.status && allHandlersFinished());
      return continueAsNew<typeof rolloutWorkflow>({ ...input, carried: { progress, policy } });
    }
  }

  // Written here, not by the status writer: the final status and the canceling go together.
  await condition(() => stored === progress.status);
  const final = aborted() ? 'aborted' : 'completed';
  progress.counts = await acts.finishRollout({ rolloutId, status: final, reason: progress.abortReason });
  setStatus(final);
  stored = final;
  log.info('rollout ended', {
    rolloutId,
    status: final,
    abortReason: progress.abortReason,
    counts: progress.counts,
  });
  await acts.sendRolloutReport({ rolloutId });
  await condition(allHandlersFinished);
  return progress;
}

export interface WaveWorkflowInput {
  rolloutId: string;
  from: number;
  to: number;
  policy: RolloutPolicy;
  startedAtMs: number;
}

/**
 * One wave (`rollout-<rolloutId>-wave-<n>`): a long activity updates its IQs in batches and
 * heartbeats. It returns to this workflow only to wait: for a maintenance window to open (a durable
 * timer, so it survives restarts and can be skipped in tests) or, when paused, for the parent's wake.
 */
export async function rolloutWaveWorkflow(input: WaveWorkflowInput): Promise<WaveResult> {
  let wakes = 0;
  setHandler(wakeSignal, () => {
    wakes++;
  });
  const { policy } = input;
  // Long enough for the whole wave: the offline deadline plus every attempt's timeout, and slack.
  const waveSeconds =
    policy.offlineDeadlineSeconds + (policy.retries + 1) * policy.inProgressTimeoutSeconds + 3600;
  const wave = proxyActivities<RolloutActivities>({
    startToCloseTimeout: `${waveSeconds} seconds`,
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
  });
  for (;;) {
    const seen = wakes;
    const result = await wave.runRolloutWave(input);
    if (result.outcome === 'paused') await condition(() => wakes > seen);
    else if (result.outcome === 'wait') await condition(() => wakes > seen, result.waitMs);
    else return result;
  }
}
