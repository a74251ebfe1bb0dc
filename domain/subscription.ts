/**
 * Pure decisions of the subscription lifecycle (SPEC 3.4). Temporal workflow code imports this
 * module, so it must stay deterministic: no clock, no I/O, no locale-dependent comparison. Every
 * moment is an epoch-millisecond integer passed in by the caller (in a workflow, the workflow clock).
 */
import type { ReasonCode } from './reasons';

export type SiteRole = 'owner' | 'admin' | 'user';
export type SubscriptionStatus = 'none' | 'active' | 'expired';
export type ReminderOffsetDays = 28 | 7 | 1;

export const SECOND_MS = 1000;
export const DAY_MS = 86_400 * SECOND_MS;

/** A term as workflows and activities pass it: ids and numbers only. */
export interface TermView {
  id: string;
  startsAtMs: number;
  endsAtMs: number;
  usersLimit: number;
  iqsLimit: number;
}

/** A site's subscription as the database holds it: the status and the current (or last) term. */
export interface SiteSubscription {
  status: SubscriptionStatus;
  term?: TermView;
  /** sites.subscription_version as committed: of two states, the higher came later. */
  version?: number;
}

/**
 * What a site's workflow is told of a change it did not make itself: a redemption the API claimed.
 * Ids, times and numbers only.
 */
export interface SubscriptionChanged {
  site: SiteSubscription & { version: number };
  /** The site's clock as committed, for a run that has not loaded the site yet. */
  clock: { sandbox: boolean; clockOffsetMs: number };
  /** A term the redemption found past its end and expired first: its expired email is still to send. */
  expiredTermId?: string;
}

/** What a redemption came to (V3, V4): the new term, or why there is none. */
export type RedeemResult =
  | { ok: true; term: TermView; carriedOverSeconds: number; previousTerm?: TermView }
  | {
      ok: false;
      /** `site_not_found`: the site was deleted meanwhile; the API answers it as any unknown site. */
      code:
        | Extract<
            ReasonCode,
            'voucher_not_found' | 'voucher_already_redeemed' | 'voucher_expired' | 'idempotency_key_reused'
          >
        | 'site_not_found';
    };

/** Term limits carried by a voucher (V1). */
export interface Limits {
  usersLimit: number;
  iqsLimit: number;
}

/** Exact ordering of strings by UTF-16 code units; `localeCompare` could differ between hosts. */
function compareIds(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

function assertCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}

function assertMoment(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`${name} must be an integer epoch-millisecond moment, got ${value}`);
  }
}

/**
 * V4: seconds of the current term carried into a new one, as
 * `floor(remainingSeconds × min(1, oldUsers/newUsers, oldIQs/newIQs))`.
 *
 * Rounding: the remaining time is first floored to whole seconds (an unfinished second is not
 * carried), then the scaled value is floored. The smallest ratio is chosen by cross-multiplying
 * and applied with BigInt, so no float error can lose a second (90 s × 7/10 is 63, not 62).
 * A limit that does not rise cannot make the ratio smaller than 1, so only raised limits compete;
 * raising a limit from 0 therefore carries nothing. No current term, or one that has ended
 * (`endsAtMs <= nowMs`), carries 0.
 */
export function carryOverSeconds(input: {
  nowMs: number;
  current?: ({ endsAtMs: number } & Limits) | undefined;
  next: Limits;
}): number {
  const { nowMs, current, next } = input;
  assertMoment('nowMs', nowMs);
  assertCount('next.usersLimit', next.usersLimit);
  assertCount('next.iqsLimit', next.iqsLimit);
  if (current === undefined) return 0;
  assertMoment('current.endsAtMs', current.endsAtMs);
  assertCount('current.usersLimit', current.usersLimit);
  assertCount('current.iqsLimit', current.iqsLimit);
  if (current.endsAtMs <= nowMs) return 0;

  const remainingSeconds = Math.floor((current.endsAtMs - nowMs) / SECOND_MS);
  let num = 1;
  let den = 1;
  for (const [oldLimit, newLimit] of [
    [current.usersLimit, next.usersLimit],
    [current.iqsLimit, next.iqsLimit],
  ] as const) {
    // oldLimit/newLimit < num/den, compared exactly on integers.
    if (newLimit > oldLimit && oldLimit * den < num * newLimit) {
      num = oldLimit;
      den = newLimit;
    }
  }
  return Number((BigInt(remainingSeconds) * BigInt(num)) / BigInt(den));
}

/** V3: end of a term starting at `nowMs`: now + duration + carried-over seconds, in epoch ms. */
export function newTermEnd(input: { nowMs: number; durationDays: number; carrySeconds: number }): number {
  assertMoment('nowMs', input.nowMs);
  assertCount('durationDays', input.durationDays);
  assertCount('carrySeconds', input.carrySeconds);
  return input.nowMs + input.durationDays * DAY_MS + input.carrySeconds * SECOND_MS;
}

export interface PlannedReminder {
  offsetDays: ReminderOffsetDays;
  atMs: number;
}

const REMINDER_OFFSETS: readonly ReminderOffsetDays[] = [28, 7, 1];

/**
 * V5: reminder moments of one term, earliest first (28, 7, then 1 day before the end). A moment
 * before the term started is skipped; a moment equal to the start is kept, so a term of exactly
 * 28 days still gets its 28-day reminder, sent as the term begins.
 */
export function reminderPlan(term: { startsAtMs: number; endsAtMs: number }): PlannedReminder[] {
  assertMoment('startsAtMs', term.startsAtMs);
  assertMoment('endsAtMs', term.endsAtMs);
  return REMINDER_OFFSETS.map((offsetDays) => ({
    offsetDays,
    atMs: term.endsAtMs - offsetDays * DAY_MS,
  })).filter((r) => r.atMs >= term.startsAtMs);
}

/**
 * V5: reminders of a plan still to send, in plan order. Every reminder not yet sent is pending,
 * whether its moment is ahead or already past (a late workflow still sends it, once), until the
 * term ends (`nowMs >= end`): after that a "your subscription ends soon" email would be false.
 * The end is recovered from each entry (`atMs + offsetDays`), as `reminderPlan` built it.
 */
export function pendingReminders(
  plan: readonly PlannedReminder[],
  state: { nowMs: number; sent: readonly ReminderOffsetDays[] },
): PlannedReminder[] {
  assertMoment('nowMs', state.nowMs);
  return plan.filter(
    (r) => !state.sent.includes(r.offsetDays) && state.nowMs < r.atMs + r.offsetDays * DAY_MS,
  );
}

/**
 * V5 as a reminder goes out: only for the site's current term and before its end, and only when no
 * later reminder of the plan is due too (a workflow late by days, or a sandbox clock moved past
 * several moments, sends the latest one, not each in turn with its own false count). The email then
 * says the days truly left, counted up: a reminder on time says its offset.
 */
export function reminderToSend(input: {
  offsetDays: ReminderOffsetDays;
  nowMs: number;
  term: { startsAtMs: number; endsAtMs: number; replaced: boolean };
}): { send: true; daysLeft: number } | { send: false; reason: 'replaced' | 'ended' | 'overtaken' } {
  const { offsetDays, nowMs, term } = input;
  assertMoment('nowMs', nowMs);
  if (term.replaced) return { send: false, reason: 'replaced' };
  if (nowMs >= term.endsAtMs) return { send: false, reason: 'ended' };
  const overtaken = reminderPlan(term).some((r) => r.offsetDays < offsetDays && r.atMs <= nowMs);
  if (overtaken) return { send: false, reason: 'overtaken' };
  return { send: true, daysLeft: Math.ceil((term.endsAtMs - nowMs) / DAY_MS) };
}

/** What the subscription workflow waits for when nothing is due. */
export type SubscriptionWait =
  | { kind: 'reminder'; offsetDays: ReminderOffsetDays; atMs: number }
  | { kind: 'end'; atMs: number }
  | { kind: 'redemption' };

/** The subscription workflow's next step (V3–V6); the workflow only carries them out. */
export type SubscriptionStep =
  | { kind: 'sendReceipt'; termId: string }
  | { kind: 'sendExpiredEmail'; termId: string }
  | { kind: 'expire'; termId: string }
  | { kind: 'sendReminder'; termId: string; offsetDays: ReminderOffsetDays }
  | { kind: 'continueAsNew' }
  | { kind: 'wait'; for: SubscriptionWait };

/**
 * What the subscription workflow does next, from what it holds (the database's status and term,
 * adopted after every change) at the site's `nowMs`. Due work first, oldest first: receipts of
 * answered redemptions, the expired email, the expiry itself (V6) once the end is reached, then a
 * reminder whose moment has come (V5). Nothing due: a fresh history when the server suggests one
 * or when this run saw its term expire (a natural point), else wait for the earlier of the next
 * reminder and the end, or for a redemption when no term is in force.
 */
export function nextStep(input: {
  nowMs: number;
  status: SubscriptionStatus;
  term?: TermView;
  remindersSent: readonly ReminderOffsetDays[];
  receiptsDue: readonly string[];
  expiredEmailsDue: readonly string[];
  expiredInThisRun: boolean;
  historyLong: boolean;
}): SubscriptionStep {
  const { nowMs, term } = input;
  assertMoment('nowMs', nowMs);
  const receipt = input.receiptsDue[0];
  if (receipt !== undefined) return { kind: 'sendReceipt', termId: receipt };
  const expiredEmail = input.expiredEmailsDue[0];
  if (expiredEmail !== undefined) return { kind: 'sendExpiredEmail', termId: expiredEmail };
  const active = input.status === 'active' && term !== undefined;
  if (active && nowMs >= term.endsAtMs) return { kind: 'expire', termId: term.id };
  const [reminder] = active ? pendingReminders(reminderPlan(term), { nowMs, sent: input.remindersSent }) : [];
  if (active && reminder && reminder.atMs <= nowMs) {
    return { kind: 'sendReminder', termId: term.id, offsetDays: reminder.offsetDays };
  }
  if (input.historyLong || input.expiredInThisRun) return { kind: 'continueAsNew' };
  if (!active) return { kind: 'wait', for: { kind: 'redemption' } };
  return {
    kind: 'wait',
    for: reminder
      ? { kind: 'reminder', offsetDays: reminder.offsetDays, atMs: reminder.atMs }
      : { kind: 'end', atMs: term.endsAtMs },
  };
}

/**
 * V4 in words for the receipt: what was left of the replaced term, and whether and why pro rata
 * scaled it. `scaledBy` names the limit whose rise set the factor (the largest increase); absent
 * when nothing was scaled (no limit rose) or no time was left.
 */
export interface CarryOverExplanation {
  remainingSeconds: number;
  carriedSeconds: number;
  scaledBy?: { limit: 'users' | 'iqs'; from: number; to: number };
}

export function explainCarryOver(input: {
  nowMs: number;
  previous?: { endsAtMs: number } & Limits;
  next: Limits;
}): CarryOverExplanation {
  const { nowMs, previous, next } = input;
  if (!previous || previous.endsAtMs <= nowMs) return { remainingSeconds: 0, carriedSeconds: 0 };
  const remainingSeconds = Math.floor((previous.endsAtMs - nowMs) / SECOND_MS);
  const carriedSeconds = carryOverSeconds({ nowMs, current: previous, next });
  const rises = [
    { limit: 'users' as const, from: previous.usersLimit, to: next.usersLimit },
    { limit: 'iqs' as const, from: previous.iqsLimit, to: next.iqsLimit },
  ].filter((r) => r.to > r.from);
  // The smallest from/to ratio is the largest increase; compared exactly by cross-multiplying.
  const largest = rises.reduce<(typeof rises)[number] | undefined>(
    (best, r) => (!best || r.from * best.to < best.from * r.to ? r : best),
    undefined,
  );
  return { remainingSeconds, carriedSeconds, ...(largest ? { scaledBy: largest } : {}) };
}

/** Key that makes a term's reminder email go out at most once (V5), across retries and replays. */
export function reminderIdempotencyKey(termId: string, offsetDays: ReminderOffsetDays): string {
  return `reminder:${termId}:${offsetDays}d`;
}

const ROLE_RANK: Readonly<Record<SiteRole, number>> = { owner: 0, admin: 1, user: 2 };

/**
 * V10, a term starting on a site with no term or an expired one: who gets a slot, in fill order.
 * IQs by registration time; members holding a valid access method by role (owner, admins,
 * others), then join time. Equal times fall back to the id so the result never depends on the
 * order of the input.
 */
export function slotFillOrder(
  input: Limits & {
    members: ReadonlyArray<{
      profileId: string;
      role: SiteRole;
      joinedAtMs: number;
      hasValidAccess: boolean;
    }>;
    iqs: ReadonlyArray<{ iqId: string; registeredAtMs: number }>;
  },
): { memberIds: string[]; iqIds: string[] } {
  assertCount('usersLimit', input.usersLimit);
  assertCount('iqsLimit', input.iqsLimit);
  const memberIds = input.members
    .filter((m) => m.hasValidAccess)
    .toSorted(memberFillOrder)
    .slice(0, input.usersLimit)
    .map((m) => m.profileId);
  const iqIds = input.iqs
    .toSorted(iqFillOrder)
    .slice(0, input.iqsLimit)
    .map((iq) => iq.iqId);
  return { memberIds, iqIds };
}

type MemberOrderKey = { profileId: string; role: SiteRole; joinedAtMs: number };
const memberFillOrder = (a: MemberOrderKey, b: MemberOrderKey) =>
  ROLE_RANK[a.role] - ROLE_RANK[b.role] ||
  a.joinedAtMs - b.joinedAtMs ||
  compareIds(a.profileId, b.profileId);
type IqOrderKey = { iqId: string; registeredAtMs: number };
const iqFillOrder = (a: IqOrderKey, b: IqOrderKey) =>
  a.registeredAtMs - b.registeredAtMs || compareIds(a.iqId, b.iqId);

/**
 * Of `items`, those beyond `limit` when the earliest subscribed keep their slot, most recently
 * subscribed first. Items in `keep` always stay and take slots first. `subscribedFirst` orders them
 * earliest first.
 */
function overLimit<T>(
  items: readonly T[],
  limit: number,
  subscribedFirst: (a: T, b: T) => number,
  id: (item: T) => string,
  keep: (item: T) => boolean,
): string[] {
  const kept = items.filter(keep).length;
  return items
    .filter((item) => !keep(item))
    .toSorted(subscribedFirst)
    .slice(Math.max(0, limit - kept))
    .reverse()
    .map(id);
}

/**
 * V10, a term replacing an active one: the subscribed members and IQs that lose their slot when
 * the new limits are lower, most recently subscribed first. The owner never loses a slot, so the
 * slots taken away come from the others even when the owner subscribed last (and the owner keeps
 * theirs even under a user limit of 0). Slots filled at one instant (slotFillOrder, a term after none
 * or after expiry) were taken in its order: that order breaks their tie, so the last filled go first.
 */
export function trimToLimits(
  input: Limits & {
    subscribedMembers: ReadonlyArray<{
      profileId: string;
      role: SiteRole;
      joinedAtMs: number;
      subscribedAtMs: number;
    }>;
    subscribedIqs: ReadonlyArray<{ iqId: string; registeredAtMs: number; subscribedAtMs: number }>;
  },
): { unsubscribeMemberIds: string[]; unsubscribeIqIds: string[] } {
  assertCount('usersLimit', input.usersLimit);
  assertCount('iqsLimit', input.iqsLimit);
  return {
    unsubscribeMemberIds: overLimit(
      input.subscribedMembers,
      input.usersLimit,
      (a, b) => a.subscribedAtMs - b.subscribedAtMs || memberFillOrder(a, b),
      (m) => m.profileId,
      (m) => m.role === 'owner',
    ),
    unsubscribeIqIds: overLimit(
      input.subscribedIqs,
      input.iqsLimit,
      (a, b) => a.subscribedAtMs - b.subscribedAtMs || iqFillOrder(a, b),
      (iq) => iq.iqId,
      () => false,
    ),
  };
}

export interface SubscribeRefusal {
  code: Extract<ReasonCode, 'forbidden' | 'no_valid_subscription' | 'no_free_slot' | 'no_valid_access'>;
  message: string;
}

/**
 * V8: why marking a member subscribed is refused, or null when it may proceed. Checked in order:
 * the actor is owner or admin (the installer is not, V8 names only those two), the site has a
 * valid subscription (V7), then the member holds a valid access method, then a user slot is free.
 * Marking a member who is already subscribed is a no-op, not a refusal, once the actor and
 * subscription checks pass: that member already occupies their slot.
 */
export function subscribeRefusal(input: {
  actorRole: SiteRole | 'installer';
  siteStatus: SubscriptionStatus;
  usedUserSlots: number;
  usersLimit: number;
  targetAlreadySubscribed: boolean;
  targetHasValidAccess: boolean;
}): SubscribeRefusal | null {
  if (input.actorRole !== 'owner' && input.actorRole !== 'admin') {
    return {
      code: 'forbidden',
      message: 'Only the site owner or an admin can choose which members are subscribed.',
    };
  }
  if (input.siteStatus !== 'active') {
    return {
      code: 'no_valid_subscription',
      message: 'This site has no valid subscription. Redeem a voucher before subscribing members.',
    };
  }
  if (input.targetAlreadySubscribed) return null;
  if (!input.targetHasValidAccess) {
    return {
      code: 'no_valid_access',
      message:
        'This member has no valid access method (tag, mobile key, PIN or remote opening). ' +
        'Give them one before subscribing them.',
    };
  }
  if (input.usedUserSlots >= input.usersLimit) {
    return {
      code: 'no_free_slot',
      message:
        `All ${input.usersLimit} user slots of the current subscription are taken. ` +
        'Unsubscribe another member or redeem a voucher with more users.',
    };
  }
  return null;
}

/**
 * Status of a site at `nowMs` given its latest term: active from its start (inclusive) to its end
 * (exclusive, V6 expires at the end moment), expired from the end on. A term that has not begun
 * yet gives no valid subscription, so it reads as 'none'.
 */
export function subscriptionStatus(input: {
  nowMs: number;
  term?: { startsAtMs: number; endsAtMs: number } | undefined;
}): SubscriptionStatus {
  const { nowMs, term } = input;
  if (term === undefined || nowMs < term.startsAtMs) return 'none';
  return nowMs < term.endsAtMs ? 'active' : 'expired';
}
