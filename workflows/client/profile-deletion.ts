import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { profileDeletionWorkflowId } from '../ids';
import {
  type ConsentSignal,
  cancelSignal,
  consentSignal,
  deletionStateQuery,
  type ProfileDeletionState,
} from '../profile-deletion/messages';
import { profileDeletionWorkflow } from '../profile-deletion/workflow';

/**
 * Starts `profile-deletion-<requestId>`; a running one is left alone, so filing the same open request
 * again (D1) never starts a second workflow.
 */
export async function startProfileDeletion(
  temporal: Client,
  taskQueue: string,
  requestId: string,
): Promise<void> {
  await temporal.workflow.start(profileDeletionWorkflow, {
    workflowId: profileDeletionWorkflowId(requestId),
    taskQueue,
    args: [{ requestId }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

/**
 * Tells the workflow what the database already holds. A workflow that is gone has nothing to learn:
 * the stored answer or cancel stands on its own.
 */
async function ignoreClosed(sent: Promise<void>): Promise<void> {
  try {
    await sent;
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
  }
}

export function signalConsent(temporal: Client, requestId: string, consent: ConsentSignal): Promise<void> {
  return ignoreClosed(
    temporal.workflow.getHandle(profileDeletionWorkflowId(requestId)).signal(consentSignal, consent),
  );
}

export function signalCancel(temporal: Client, requestId: string): Promise<void> {
  return ignoreClosed(temporal.workflow.getHandle(profileDeletionWorkflowId(requestId)).signal(cancelSignal));
}

export function queryProfileDeletion(temporal: Client, requestId: string): Promise<ProfileDeletionState> {
  return temporal.workflow.getHandle(profileDeletionWorkflowId(requestId)).query(deletionStateQuery);
}
