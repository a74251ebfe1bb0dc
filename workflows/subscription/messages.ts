// The messages of `subscription-<siteId>`, shared by the workflow and its clients. The names are
// the wire names recorded in histories: never rename them.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type {
  RedeemResult,
  ReminderOffsetDays,
  SubscriptionStatus,
  TermView,
} from '../../domain/subscription';

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
}

/** The state with the site's own "now" (sandbox clocks run ahead). */
export type SubscriptionView = SubscriptionState & { nowMs: number };

export interface RedeemVoucherInput {
  /** SHA-256 of the normalized code: the code itself never enters workflow history. */
  codeHash: string;
  requestId: string;
  actorProfileId: string;
}

export const redeemVoucherUpdate = defineUpdate<RedeemResult, [RedeemVoucherInput]>('redeemVoucher');
/** O2: moves a sandbox site's clock forward. */
export const advanceClockUpdate = defineUpdate<{ nowMs: number }, [{ seconds: number }]>('advanceClock');
export const subscriptionStateQuery = defineQuery<SubscriptionView>('state');
