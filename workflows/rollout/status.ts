// How `rollout-<rolloutId>` keeps its status (F5): workflow code, run in the workflow sandbox.
import {
  allHandlersFinished,
  condition,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { RolloutActivities } from '../../activities/rollout';
import { afterControl, type Counts, ROLLOUT_CONTROLS, type RolloutControl } from '../../domain/rollout';
import { ACTIVITY_OPTIONS } from '../activity-options';
import { RolloutStatus as RolloutStatusKey } from '../search-attributes';
import {
  abortSignal,
  controlUpdate,
  pauseSignal,
  type RolloutProgress,
  type RolloutStatus,
  resumeSignal,
} from './messages';

/** The rollout's status as the workflow's main loop sees and changes it. */
export interface StatusKeeper {
  /** F4: the failure rate crossed the threshold. */
  abort(reason: string): Promise<void>;
  /** Resolves once no status change is on its way (before continue-as-new). */
  settled(): Promise<void>;
  /** The end: `write` records the final status with the canceling of what did not finish. */
  finish(write: (status: 'completed' | 'aborted') => Promise<Counts>): Promise<void>;
}

const acts = proxyActivities<RolloutActivities>({ ...ACTIVITY_OPTIONS, summary: 'record the status' });

/**
 * One writer, one path (issue 12): every change of the status (a signal, the `control` update, the
 * failure threshold, the end) goes through one queue, in arrival order. Each is decided from the
 * status the database holds (`afterControl`), recorded there by the workflow's activity, and only
 * then taken by `progress.status` and the `RolloutStatus` search attribute: the two never disagree
 * for longer than the activity, and a wave that reads the database after `wake` sees the change.
 */
export function oneStatusWriter(
  progress: RolloutProgress,
  wake: (status: RolloutStatus) => Promise<void>,
): StatusKeeper {
  const { rolloutId } = progress;
  let tail: Promise<unknown> = Promise.resolve();
  // A promise chain, not a condition: queued changes run one at a time and in the order they came.
  const serially = <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task);
    tail = run.catch(() => {});
    return run;
  };
  const publish = () => upsertSearchAttributes([{ key: RolloutStatusKey, value: progress.status }]);

  const control = (action: RolloutControl, reason = 'support') =>
    serially(async () => {
      const next = afterControl(progress.status, action);
      if (next === progress.status) return next;
      await acts.setRolloutStatus({
        rolloutId,
        status: next as 'running' | 'paused' | 'aborted',
        ...(next === 'aborted' ? { reason } : {}),
      });
      progress.status = next;
      if (next === 'aborted') progress.abortReason = reason;
      publish();
      if (next !== 'paused') await wake(next);
      return next;
    });

  const onSignal = (action: RolloutControl) => async () => {
    await control(action);
  };
  setHandler(pauseSignal, onSignal('pause'));
  setHandler(resumeSignal, onSignal('resume'));
  setHandler(abortSignal, onSignal('abort'));
  setHandler(controlUpdate, (action) => control(action), {
    validator: (action) => {
      if (!ROLLOUT_CONTROLS.includes(action)) throw new Error('expected pause, resume or abort');
    },
  });
  publish();

  return {
    abort: async (reason) => {
      await control('abort', reason);
    },
    settled: () => condition(allHandlersFinished),
    finish: (write) =>
      serially(async () => {
        const final = progress.status === 'aborted' ? 'aborted' : 'completed';
        progress.counts = await write(final);
        progress.status = final;
        publish();
      }),
  };
}

/**
 * The status as rollouts started before `rollout-status-one-writer` kept it, for their histories to
 * replay: the signal handlers set a second copy, and a side coroutine wrote it to the database.
 */
export function sideStatusWriter(
  progress: RolloutProgress,
  wake: (status: RolloutStatus) => Promise<void>,
): StatusKeeper {
  const { rolloutId } = progress;
  let stored: RolloutStatus = progress.status;
  const publish = () => upsertSearchAttributes([{ key: RolloutStatusKey, value: progress.status }]);
  const setStatus = (status: RolloutStatus, reason?: string) => {
    progress.status = status;
    if (reason) progress.abortReason = reason;
    publish();
  };
  const control = (action: RolloutControl) => {
    const next = afterControl(progress.status, action);
    if (next !== progress.status) setStatus(next, next === 'aborted' ? 'support' : undefined);
    return progress.status;
  };
  setHandler(pauseSignal, () => {
    control('pause');
  });
  setHandler(resumeSignal, () => {
    control('resume');
  });
  setHandler(abortSignal, () => {
    control('abort');
  });
  setHandler(controlUpdate, control);
  publish();

  // Not awaited: it runs beside the wave loop for the workflow's life (the loop waits for `stored`).
  void (async () => {
    for (;;) {
      await condition(() => progress.status !== stored);
      const status = progress.status;
      if (status === 'completed') return;
      await acts.setRolloutStatus({
        rolloutId,
        status,
        ...(progress.abortReason ? { reason: progress.abortReason } : {}),
      });
      stored = status;
      if (status !== 'paused') await wake(status);
    }
  })();

  return {
    abort: async (reason) => {
      setStatus('aborted', reason);
    },
    settled: () => condition(() => stored === progress.status && allHandlersFinished()),
    finish: async (write) => {
      await condition(() => stored === progress.status);
      const final = progress.status === 'aborted' ? 'aborted' : 'completed';
      progress.counts = await write(final);
      setStatus(final);
      stored = final;
    },
  };
}
