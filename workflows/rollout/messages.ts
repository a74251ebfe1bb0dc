// The messages of `rollout-<rolloutId>` and its waves, shared by the workflows and their clients.
// The names are the wire names recorded in histories: never rename them.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Counts } from '../../domain/rollout';

export type RolloutStatus = 'running' | 'paused' | 'completed' | 'aborted';

export interface RolloutProgress {
  rolloutId: string;
  status: RolloutStatus;
  abortReason: string | null;
  /** Waves started so far (wave 0 is the canary). */
  wave: number;
  /** Queued IQs covered by the waves started so far, of `planned`. */
  nextPosition: number;
  planned: number;
  counts: Counts;
}

export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const abortSignal = defineSignal('abort');
export const progressQuery = defineQuery<RolloutProgress>('progress');
/** Parent → its running wave: the rollout's status changed (resume, abort); look again. */
export const wakeSignal = defineSignal('wake');
