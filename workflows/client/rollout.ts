import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { rolloutWorkflowId } from '../ids';
import {
  abortSignal,
  pauseSignal,
  progressQuery,
  type RolloutProgress,
  resumeSignal,
} from '../rollout/messages';
import { rolloutWorkflow } from '../rollout/workflow';

const CONTROLS = { pause: pauseSignal, resume: resumeSignal, abort: abortSignal } as const;

/** Starts `rollout-<rolloutId>`; starting it again leaves the running one alone. */
export async function startRollout(temporal: Client, taskQueue: string, rolloutId: string): Promise<void> {
  await temporal.workflow.start(rolloutWorkflow, {
    workflowId: rolloutWorkflowId(rolloutId),
    taskQueue,
    args: [{ rolloutId }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

/** pause, resume or abort; false when the workflow has ended (nothing left to signal). */
export async function signalRollout(
  temporal: Client,
  rolloutId: string,
  control: keyof typeof CONTROLS,
): Promise<boolean> {
  try {
    await temporal.workflow.getHandle(rolloutWorkflowId(rolloutId)).signal(CONTROLS[control]);
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

export function queryRolloutProgress(temporal: Client, rolloutId: string): Promise<RolloutProgress> {
  return temporal.workflow.getHandle(rolloutWorkflowId(rolloutId)).query(progressQuery);
}
