import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { FiledBy } from '../../domain/profile-deletion';
import { profileDeletionWorkflowId } from '../ids';
import {
  type ConsentSignal,
  cancelSignal,
  consentSignal,
  deletionStateQuery,
  type ProfileDeletionStateView,
  sitesChangedSignal,
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
  filedBy: FiledBy,
): Promise<void> {
  await temporal.workflow.start(profileDeletionWorkflow, {
    workflowId: profileDeletionWorkflowId(requestId),
    taskQueue,
    args: [{ requestId, filedBy }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    // Temporal user metadata (O1): what support reads in the Web UI's list and its User Metadata tab.
    staticSummary: `Profile deletion request ${requestId}`,
    staticDetails: [
      `Deletion request \`${requestId}\` (SPEC D1–D10), filed by support:`,
      '- a profile that owns a site is blocked (D6) and support is told what to do;',
      '- otherwise every site’s owner is emailed a single-use consent link, reminded at day 7 (D2–D4);',
      '- any denial ends it as denied, no full set of answers by day 30 as timed out (D4, D5);',
      '- every approval deletes the profile in one transaction (D7);',
      '- search attribute `SiteIds`: every site it asks or waits on; query `state`: answers, plan and next step (ISO times).',
    ].join('\n'),
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

/** D2: the person left a site these open requests asked; each workflow reloads its request. */
export async function signalSitesChanged(temporal: Client, requestIds: readonly string[]): Promise<void> {
  await Promise.all(
    requestIds.map((id) =>
      ignoreClosed(temporal.workflow.getHandle(profileDeletionWorkflowId(id)).signal(sitesChangedSignal)),
    ),
  );
}

export function signalCancel(temporal: Client, requestId: string): Promise<void> {
  return ignoreClosed(temporal.workflow.getHandle(profileDeletionWorkflowId(requestId)).signal(cancelSignal));
}

export function queryProfileDeletion(temporal: Client, requestId: string): Promise<ProfileDeletionStateView> {
  return temporal.workflow.getHandle(profileDeletionWorkflowId(requestId)).query(deletionStateQuery);
}
