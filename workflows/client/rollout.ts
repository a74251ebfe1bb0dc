import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { rolloutWorkflowId } from '../ids';
// Types only: the workflow module runs in the workflow sandbox, not in the API process.
import type { RolloutProgress, rolloutWorkflow } from '../rollout/workflow';

/** Starts `rollout-<rolloutId>`; starting it again leaves the running one alone. */
export async function startRollout(temporal: Client, taskQueue: string, rolloutId: string): Promise<void> {
  await temporal.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
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
  signal: 'pause' | 'resume' | 'abort',
): Promise<boolean> {
  try {
    await temporal.workflow.getHandle(rolloutWorkflowId(rolloutId)).signal(signal);
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

export function queryRolloutProgress(temporal: Client, rolloutId: string): Promise<RolloutProgress> {
  return temporal.workflow.getHandle(rolloutWorkflowId(rolloutId)).query<RolloutProgress>('progress');
}
