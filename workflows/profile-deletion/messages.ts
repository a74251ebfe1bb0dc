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

/** A site owner's answer, sent after the consent page recorded it. */
export interface ConsentSignal {
  siteId: string;
  decision: OwnerDecision;
}

export const consentSignal = defineSignal<[ConsentSignal]>('consent');
export const cancelSignal = defineSignal('cancel');
export const deletionStateQuery = defineQuery<ProfileDeletionState>('state');
