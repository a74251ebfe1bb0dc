// The messages of `subscription-<siteId>`, shared by the workflow and its clients. The names are
// the wire names recorded in histories: never rename them.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  RedeemResult,
  ReminderOffsetDays,
  SubscriptionChanged,
  SubscriptionStatus,
  TermView,
} from '../../domain/subscription';

/** What the workflow holds, carried across continue-as-new (epoch milliseconds, ids only). */
export interface SubscriptionState {
  siteId: string;
  status: SubscriptionStatus;
  sandbox: boolean;
  /** Sandbox test clock: how far the site's time runs ahead of real time (O2). */
  clockOffsetMs: number;
  term?: TermView;
  remindersSent: ReminderOffsetDays[];
  /** Terms whose redemption was answered and whose receipt and IQ push are still to do, oldest first. */
  receiptsDue?: string[];
  /** Terms that expired and whose expired email is still to send, oldest first. */
  expiredEmailsDue?: string[];
}

export interface SubscriptionWorkflowInput {
  siteId: string;
  /** Carried across continue-as-new; absent on the first start. Each run reloads status and term. */
  carried?: SubscriptionState;
  /** Tests lower it to exercise continue-as-new; otherwise the server's suggestion decides. */
  maxHistoryEvents?: number;
  /**
   * Set by the clients that start it (workflows/client/subscription.ts): the run has, from its start,
   * every change up to the `subscription-since-receipts-queued` patch, and records no marker for
   * them. Runs started without it decide by their markers. It says nothing of later changes: each of
   * those takes its own patched() marker or start flag (below).
   */
  current?: true;
  /**
   * Set by the clients that start it and by continue-as-new: from its start the run waits for a
   * timer or a change with `waitUntil` (workflows/wait.ts), and a run whose telling brought its state
   * goes to its first step without a condition first. Their commands may come in another order within
   * an activation than those of the SDK's `condition`, which runs started without it keep to their end.
   */
  leanWaits?: true;
}

/**
 * The `state` query (O1): ISO times, the site's own "now", and the plan: the next reminder, what
 * the workflow is doing or waiting for. Ids and numbers only.
 */
export interface SubscriptionStateView {
  siteId: string;
  status: SubscriptionStatus;
  sandbox: boolean;
  /** The site's time: real time, plus the sandbox clock's offset on a sandbox site. */
  now: string;
  clockOffsetSeconds: number;
  term?: { id: string; startsAt: string; endsAt: string; usersLimit: number; iqsLimit: number };
  remindersSent: ReminderOffsetDays[];
  /** The next reminder of the term (V5), even when its moment has come and it is being sent. */
  nextReminderAt?: string;
  nextReminderDays?: ReminderOffsetDays;
  /** Terms whose receipt and IQ push are still to do (the redemption was answered). */
  receiptsDue: string[];
  /** Terms that expired and whose expired email is still to send (V6). */
  expiredEmailsDue: string[];
  /** What the workflow does now, in words: a step in progress, or what it waits for and until when. */
  activity: string;
  waitingFor?: { what: 'reminder' | 'end of term' | 'redemption'; until?: string };
}

export interface RedeemVoucherInput {
  /** SHA-256 of the normalized code: the code itself never enters workflow history. */
  codeHash: string;
  requestId: string;
  actorProfileId: string;
}

/**
 * A redemption the API claimed (issue 15), sent by the redemption relay once committed: the workflow
 * adopts the state when it is newer than what it holds (sent again or out of order, it is not).
 */
export const subscriptionChangedSignal = defineSignal<[SubscriptionChanged]>('subscriptionChanged');
export const redeemVoucherUpdate = defineUpdate<RedeemResult, [RedeemVoucherInput]>('redeemVoucher');
/** O2: moves a sandbox site's clock forward. */
export const advanceClockUpdate = defineUpdate<{ nowMs: number }, [{ seconds: number }]>('advanceClock');
export const subscriptionStateQuery = defineQuery<SubscriptionStateView>('state');
