import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client';
import { syncAccessLists } from '../db/queries/access-lists';
import { recordEvent } from '../db/queries/events';
import {
  findIdempotencyRecord,
  type IdempotencyRecord,
  saveIdempotencyRecord,
} from '../db/queries/idempotency';
import { findMembership } from '../db/queries/memberships';
import { fillSlots, trimSlots, unsubscribeEverything } from '../db/queries/slots';
import {
  claimForRequest,
  findCurrentTerm,
  findTerm,
  findVoucherByHash,
  lockSite,
  type Term,
  writeRedeemedTerm,
} from '../db/queries/subscriptions';
import {
  decideInTransaction,
  refuseUnlessAllowed,
  type ThrottleKey,
  writeThrottles,
} from '../db/queries/throttles';
import { sites } from '../db/schema';
import type { SiteActor } from '../domain/site-roles';
import {
  carryOverSeconds,
  newTermEnd,
  type RedeemResult,
  type SiteSubscription,
  type TermView,
} from '../domain/subscription';
import { settleAttempt } from '../domain/throttling';
import { roleUnderLock } from './site-lock';

export interface RedeemInput {
  siteId: string;
  codeHash: string;
  /** Unique per redemption request; a retry finds the term it already wrote. */
  requestId: string;
  actorProfileId: string;
  /**
   * The site's time (sandbox clocks run ahead); absent, it is `realNowMs` plus the site's clock offset
   * as read under its lock (a workflow's first redemption, before it has loaded the site).
   */
  nowMs?: number;
  /** Real time as the workflow saw it (time-skipping servers move it), when `nowMs` is absent. */
  realNowMs?: number;
  /**
   * Queue the new term's receipt and IQ push in this transaction (redemption_announcements) for the
   * worker's relay; absent when the calling workflow announces them itself (runs of earlier code).
   */
  announce?: boolean;
}

export const toTermView = (t: Term): TermView => ({
  id: t.id,
  startsAtMs: t.startsAt.getTime(),
  endsAtMs: t.endsAt.getTime(),
  usersLimit: t.usersLimit,
  iqsLimit: t.iqsLimit,
});

export const limitsOf = (t: { usersLimit: number; iqsLimit: number }) => ({
  usersLimit: t.usersLimit,
  iqsLimit: t.iqsLimit,
});

/**
 * A redemption's outcome and the site's subscription right after it, as committed; `expiredTermId`
 * when the redemption found the current term past its end and expired it first (V6).
 */
export type RedeemOutcome = RedeemResult & {
  site?: SiteSubscription;
  expiredTermId?: string;
  /** The site's sandbox flag and clock, read under its lock: a workflow's load comes with its claim. */
  clock?: { sandbox: boolean; clockOffsetMs: number };
  /**
   * With `idempotency_key_reused`: the key's answer, recorded by a request with the same key that
   * held the site's lock first. The caller replays it when it answered the same request.
   */
  recorded?: IdempotencyRecord;
};

/**
 * V12 for a redemption asked over HTTP: its attempt is counted on every key before the code is looked
 * up, and settled by the outcome (a success forgets the actor's failures and gives the attempt back
 * on the shared keys), all in the claim's transaction.
 */
export interface RedeemThrottle {
  actor: ThrottleKey;
  shared: readonly ThrottleKey[];
}

/**
 * A redemption's Idempotency-Key. Its record is read and written under the site's lock, in the
 * claim's transaction, so of the requests sent at once with one key the first to hold the lock
 * takes the key: a later one finds its record, and a key that made a term always answers it.
 */
export interface RedemptionKey {
  scope: string;
  key: string;
  requestHash: string;
  /** The answer recorded for an outcome (in the caller's form), or none to record. */
  answer(outcome: RedeemOutcome): { status: number; body: unknown } | undefined;
}

/** A redemption asked over HTTP: who asked (their role decided again under the site's lock, N7) and its throttle. */
export interface AskedRedemption {
  actor: SiteActor;
  throttle: RedeemThrottle;
  idempotency?: RedemptionKey;
}

/**
 * V3, V4, V10 in one transaction: the voucher is claimed and the new term written together, so a
 * voucher is never consumed without its term; the site row lock orders concurrent redemptions.
 * The answer carries the site's subscription as committed, so its caller adopts it in commit order.
 * With `asked`, the caller's role is decided again under the lock (a removal or a transfer that
 * committed meanwhile refuses it, as lockSiteAs does) and the attempt is counted and settled in the
 * same transaction (issue 15: they were two transactions of their own), or refused with
 * AttemptRefused before anything is looked up.
 */
export function redeemVoucher(
  db: Db,
  input: RedeemInput,
  /** Real time, read under the site's lock when the input brings none (the API's clock). */
  clock: () => number = Date.now,
  asked?: AskedRedemption,
): Promise<RedeemOutcome> {
  return db.transaction(async (tx) => {
    if (!asked) {
      const site = await lockSite(tx, input.siteId);
      return site ? claimAndWrite(tx, site, input, clock) : { ok: false, code: 'site_not_found' };
    }
    const { actor, throttle, idempotency } = asked;
    // Sent together (one round trip, issue 15), run in this order: the site's lock, then the caller's
    // membership and the key's record as committed by then, then the keys (every redemption locks the
    // site before its keys, and nothing locks a site while it holds a key). Keys of a site that is
    // not there are created counting nothing.
    const [site, membership, recorded, attempt] = await Promise.all([
      lockSite(tx, input.siteId),
      findMembership(tx, input.siteId, actor.id),
      idempotency && findIdempotencyRecord(tx, idempotency.scope, idempotency.key),
      // Decided at `clock` as read once the keys are locked, so attempts waiting for the same site
      // or keys are decided in the order they hold them (ThrottleClock).
      decideInTransaction(tx, [throttle.actor, ...throttle.shared], () => new Date(clock())),
    ]);
    if (!site) return { ok: false, code: 'site_not_found' };
    roleUnderLock(site, membership?.role, actor);
    // A replay is no attempt: nothing is counted.
    if (recorded) return { ok: false, code: 'idempotency_key_reused', recorded };
    refuseUnlessAllowed(attempt);
    // The claim at the instant the attempt was decided at: one instant for the whole redemption.
    const outcome = await claimAndWrite(tx, site, input, () => attempt.at.getTime());
    const record = idempotency && keyRecord(idempotency, outcome);
    // Together: the record costs no round trip of its own.
    await Promise.all([
      writeThrottles(
        tx,
        settleAttempt(attempt.tats, outcome.ok, { clear: [throttle.actor.key], refund: throttle.shared }),
      ),
      record && saveIdempotencyRecord(tx, record),
    ]);
    return outcome;
  });
}

function keyRecord({ scope, key, requestHash, answer }: RedemptionKey, outcome: RedeemOutcome) {
  const answered = answer(outcome);
  return answered && { scope, key, requestHash, ...answered };
}

/** The claim and the new term's writes, in `tx`, which holds the site's row lock (`site`). */
async function claimAndWrite(
  tx: Tx,
  site: typeof sites.$inferSelect,
  input: RedeemInput,
  clock: () => number,
): Promise<RedeemOutcome> {
  const siteClock = { sandbox: site.sandbox, clockOffsetMs: site.clockOffsetSeconds * 1000 };
  const nowMs = input.nowMs ?? (input.realNowMs ?? clock()) + siteClock.clockOffsetMs;
  // Read under the site lock: a concurrent attempt of the same request has committed by now, and
  // the claim is made only when this request made no term yet.
  const { requested, requestedWithOtherCode, voucher, current } = await claimForRequest(tx, {
    siteId: input.siteId,
    codeHash: input.codeHash,
    requestId: input.requestId,
    now: new Date(nowMs),
  });
  const stored: SiteSubscription = {
    status: site.subscriptionStatus,
    ...(current ? { term: toTermView(current) } : {}),
    version: site.subscriptionVersion,
  };
  // The same request (Idempotency-Key) sent at once with another code: the first one's term is not its answer.
  if (requestedWithOtherCode)
    return { ok: false, code: 'idempotency_key_reused', site: stored, clock: siteClock };
  if (requested) {
    const previous = requested.previousTermId ? await findTerm(tx, requested.previousTermId) : undefined;
    return {
      ok: true,
      term: toTermView(requested),
      carriedOverSeconds: requested.carriedOverSeconds,
      ...(previous ? { previousTerm: toTermView(previous) } : {}),
      site: stored,
      clock: siteClock,
    };
  }
  if (!voucher) {
    const existing = await findVoucherByHash(tx, input.codeHash);
    const code = !existing
      ? 'voucher_not_found'
      : existing.redeemedAt
        ? 'voucher_already_redeemed'
        : 'voucher_expired';
    return { ok: false, code, site: stored, clock: siteClock };
  }
  // Terms chain in commit order whatever the callers' clocks (APIs on several hosts): none starts
  // before the current one did.
  const startMs = Math.max(nowMs, current?.startsAt.getTime() ?? nowMs);
  const now = new Date(startMs);
  // A term already past its end (its expiry was still to come) expires first: the same order as
  // if the expiry had happened at the end date, before this redemption.
  const ended =
    site.subscriptionStatus === 'active' && current && current.endsAt.getTime() <= startMs
      ? current
      : undefined;
  let version = site.subscriptionVersion;
  if (ended) {
    await expireInTransaction(tx, input.siteId, ended);
    version++;
  }
  const wasActive = site.subscriptionStatus === 'active' && !!current && !ended;
  const carry = carryOverSeconds({
    nowMs: startMs,
    current: wasActive && current ? { endsAtMs: current.endsAt.getTime(), ...limitsOf(current) } : undefined,
    next: { usersLimit: voucher.usersLimit, iqsLimit: voucher.iqsLimit },
  });
  const term: TermView = {
    id: randomUUID(),
    startsAtMs: startMs,
    endsAtMs: newTermEnd({ nowMs: startMs, durationDays: voucher.durationDays, carrySeconds: carry }),
    ...limitsOf(voucher),
  };
  // writeRedeemedTerm bumps the version once more.
  const committed = { status: 'active' as const, term, version: version + 1 };
  // The slots and the term's rows touch different tables: their statements go out together on the
  // transaction's connection (one wait for the database instead of two; issue 15).
  await Promise.all([
    wasActive
      ? trimSlots(tx, input.siteId, limitsOf(term))
      : fillSlots(tx, input.siteId, limitsOf(term), now),
    writeRedeemedTerm(tx, {
      id: term.id,
      siteId: input.siteId,
      voucherId: voucher.id,
      requestId: input.requestId,
      startsAt: now,
      endsAt: new Date(term.endsAtMs),
      ...limitsOf(term),
      carriedOverSeconds: carry,
      replacesTermId: wasActive ? current?.id : undefined,
      announce: input.announce
        ? { site: committed, clock: siteClock, ...(ended ? { expiredTermId: ended.id } : {}) }
        : undefined,
      actorProfileId: input.actorProfileId,
    }),
  ]);
  // K7: slots decide which members' credentials the IQs hold; after an expiry each IQ catches
  // up to what the database says now (the IQs subscribed again are told after the commit).
  await syncAccessLists(tx, { siteId: input.siteId }, { subscriptionStatus: 'active' });
  return {
    ok: true,
    term,
    carriedOverSeconds: carry,
    ...(wasActive && current ? { previousTerm: toTermView(current) } : {}),
    site: committed,
    ...(ended ? { expiredTermId: ended.id } : {}),
    clock: siteClock,
  };
}

/**
 * V6: the term ended. A constant number of statements whatever the site's size; a term that a later
 * redemption replaced, or whose end the site's time has not reached, is left alone. `expired` when
 * the site is expired now; `site` is the subscription as committed.
 */
export function expireTerm(
  db: Db,
  input: { siteId: string; termId: string; nowMs: number },
): Promise<{ expired: boolean; site: SiteSubscription }> {
  return db.transaction(async (tx) => {
    const locked = await lockSite(tx, input.siteId);
    const current = await findCurrentTerm(tx, input.siteId);
    const version = locked?.subscriptionVersion ?? 0;
    const stored: SiteSubscription = {
      status: locked?.subscriptionStatus ?? 'none',
      ...(current ? { term: toTermView(current) } : {}),
      version,
    };
    if (!current || current.id !== input.termId || current.endsAt.getTime() > input.nowMs) {
      return { expired: false, site: stored };
    }
    if (locked?.subscriptionStatus === 'expired') return { expired: true, site: stored };
    await expireInTransaction(tx, input.siteId, current);
    return { expired: true, site: { ...stored, status: 'expired', version: version + 1 } };
  });
}

/**
 * V6 in a transaction holding the site's lock, in a constant number of statements: every member and
 * IQ loses its slot, the site is expired, and the event says so at the term's end date.
 */
async function expireInTransaction(tx: Tx, siteId: string, term: Term) {
  await unsubscribeEverything(tx, siteId);
  await tx
    .update(sites)
    .set({ subscriptionStatus: 'expired', subscriptionVersion: sql`${sites.subscriptionVersion} + 1` })
    .where(eq(sites.id, siteId));
  await recordEvent(tx, {
    siteId,
    at: term.endsAt,
    type: 'subscription.expired',
    actorKind: 'system',
    data: { termId: term.id },
  });
}
