// The messages of `profile-deletion-<requestId>`, shared by the workflow and its clients. The names
// are the wire names recorded in histories: never rename them.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { DeletionPlan, DeletionStatus, OwnerDecision, SiteConsent } from '../../domain/profile-deletion';

export interface ProfileDeletionState {
  requestId: string;
  status: DeletionStatus;
  sites: SiteConsent[];
  /** Sites the profile owns, when that blocks the deletion (D6). */
  blockingSiteIds: string[];
  plan: DeletionPlan;
  reminded: boolean;
}

/**
 * Sent by the consent page after it recorded the answer: a wake-up, on which the workflow reloads the
 * request from the database (the one writer is the page). The answer stays on the wire because
 * workers of the earlier code drop a `consent` signal without one, and their histories carry it.
 */
export interface ConsentSignal {
  siteId: string;
  decision: OwnerDecision;
}

export const consentSignal = defineSignal<[ConsentSignal]>('consent');
export const cancelSignal = defineSignal('cancel');
export const deletionStateQuery = defineQuery<ProfileDeletionState>('state');
