// The messages of `profile-deletion-<requestId>`, shared by the workflow and its clients. The names
// are the wire names recorded in histories: never rename them.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type {
  ConsentDecision,
  DeletionPlan,
  DeletionStatus,
  FiledBy,
  OwnerDecision,
  SiteConsent,
} from '../../domain/profile-deletion';

/** What the workflow holds (epoch milliseconds, ids only). */
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
 * The `state` query (O1): ISO times, the workflow's "now", who filed the request and when, each site's
 * answer and its deadline, and what the workflow does or waits for next and until when. Ids only.
 */
export interface ProfileDeletionStateView {
  requestId: string;
  status: DeletionStatus;
  now: string;
  request: { filedAt: string; filedBy: FiledBy };
  /** Each site asked (D2): its owner's answer, by the request's consent deadline. */
  sites: Array<{ siteId: string; decision: ConsentDecision; answerBy: string }>;
  /** Sites the profile owns, when that blocks the deletion (D6): their ownership must pass first. */
  blockingSiteIds: string[];
  plan: {
    /** D4: owners who have not answered are reminded once then. */
    reminderAt: string;
    /** The last moment an answer is taken: the links expire then (D3). */
    consentDeadline: string;
    /** Without every answer the request ends as `timed_out` then (D4). */
    timesOutAt: string;
  };
  reminded: boolean;
  /** What the workflow does now, in words: a step in progress, or what it waits for. */
  activity: string;
  waitingFor?: { what: 'answers or the reminder' | 'answers or the deadline'; until: string };
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
/**
 * Sent once the person left a site, or was removed or released from it (D2: that site has no say any
 * more, its unanswered consent is gone from the database): a wake-up, on which the workflow reloads
 * the request, so the sites' approvals already given let the deletion go on.
 */
export const sitesChangedSignal = defineSignal('sitesChanged');
export const cancelSignal = defineSignal('cancel');
export const deletionStateQuery = defineQuery<ProfileDeletionStateView>('state');
