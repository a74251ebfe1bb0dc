import { type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { rolloutWorkflowId } from '../ids';
import {
  controlUpdate,
  progressQuery,
  type RolloutControl,
  type RolloutProgress,
  type RolloutStatus,
} from '../rollout/messages';
import { rolloutWorkflow } from '../rollout/workflow';

/** Starts `rollout-<rolloutId>`; starting it again leaves the running one alone. */
export async function startRollout(temporal: Client, taskQueue: string, rolloutId: string): Promise<void> {
  await temporal.workflow.start(rolloutWorkflow, {
    workflowId: rolloutWorkflowId(rolloutId),
    taskQueue,
    args: [{ rolloutId }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: 'Firmware rollout: waves of updates to the target IQs (F3–F5)',
    staticDetails: `Steer with POST /support/rollouts/${rolloutId}/pause, /resume or /abort; the \`progress\` query and GET /support/rollouts/${rolloutId} show where it is.`,
  });
}

/**
 * Pause, resume or abort, answered once the database holds the outcome: the status after it, or
 * undefined when the workflow has ended (there is nothing left to steer).
 */
export async function controlRollout(
  temporal: Client,
  rolloutId: string,
  action: RolloutControl,
): Promise<RolloutStatus | undefined> {
  try {
    return await temporal.workflow
      .getHandle(rolloutWorkflowId(rolloutId))
      .executeUpdate(controlUpdate, { args: [action] });
  } catch (error) {
    if (error instanceof WorkflowNotFoundError || error instanceof WorkflowUpdateFailedError)
      return undefined;
    throw error;
  }
}

export function queryRolloutProgress(temporal: Client, rolloutId: string): Promise<RolloutProgress> {
  return temporal.workflow.getHandle(rolloutWorkflowId(rolloutId)).query(progressQuery);
}
