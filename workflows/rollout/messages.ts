// The messages of `rollout-<rolloutId>` and its waves, shared by the workflows and their clients.
// The names are the wire names recorded in histories: never rename them.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Counts, RolloutControl, RolloutStatus } from '../../domain/rollout';

export type { RolloutControl, RolloutStatus };

export interface RolloutProgress {
  rolloutId: string;
  status: RolloutStatus;
  abortReason: string | null;
  /** The release rolled out; null until the targets are resolved (and in runs of earlier code). */
  release?: { id: string; model: string; version: string } | null;
  /** Waves ended so far: the wave running is `rollout-<rolloutId>-wave-<wave>` (0 = the canary). */
  wave: number;
  /** Queued IQs covered by the waves started so far, of `planned`. */
  nextPosition: number;
  /** The IQs to update: the target's, minus those already on the version. */
  planned: number;
  counts: Counts;
  /** ISO times (workflow time): when the rollout started, and ended (null while it runs). */
  startedAt?: string;
  finishedAt?: string | null;
}

/** F5, for support in the Temporal UI or CLI: each goes the same way as the `control` update. */
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const abortSignal = defineSignal('abort');
/**
 * F5, for the API: pause, resume or abort, answered with the status once the database holds it (a
 * control that changes nothing, such as a pause while paused, answers the status as it is).
 */
export const controlUpdate = defineUpdate<RolloutStatus, [RolloutControl]>('control');
export const progressQuery = defineQuery<RolloutProgress>('progress');
/** Parent → its running wave: the rollout's status changed (resume, abort); look again. */
export const wakeSignal = defineSignal('wake');
