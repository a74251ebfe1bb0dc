import { eq } from 'drizzle-orm';
import type { Db, Tx } from '../db/client';
import { syncAccessLists } from '../db/queries/access-lists';
import { recordEvent } from '../db/queries/events';
import { queueRedemptionAnnouncement } from '../db/queries/redemption-announcements';
import { fillSlots, trimSlots, unsubscribeEverything } from '../db/queries/slots';
import {
  claimVoucher,
  findCurrentTerm,
  findTerm,
  findTermByRequest,
  findVoucherByHash,
  lockSite,
  type Term,
} from '../db/queries/subscriptions';
import { sites, subscriptionTerms } from '../db/schema';
import {
  carryOverSeconds,
  newTermEnd,
  type RedeemResult,
  type SiteSubscription,
  type TermView,
} from '../domain/subscription';

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
};

/**
 * V3, V4, V10 in one transaction: the voucher is claimed and the new term written together, so a
 * voucher is never consumed without its term; the site row lock orders concurrent redemptions.
 * The answer carries the site's subscription as committed, so its caller adopts it in commit order.
 */
export function redeemVoucher(db: Db, input: RedeemInput): Promise<RedeemOutcome> {
  return db.transaction(async (tx) => {
    const site = await lockSite(tx, input.siteId);
    if (!site) return { ok: false, code: 'site_not_found' };
    const clock = { sandbox: site.sandbox, clockOffsetMs: site.clockOffsetSeconds * 1000 };
    const nowMs = input.nowMs ?? (input.realNowMs ?? Date.now()) + clock.clockOffsetMs;
    const stored = async (): Promise<SiteSubscription> => {
      const term = await findCurrentTerm(tx, input.siteId);
      return { status: site.subscriptionStatus, ...(term ? { term: toTermView(term) } : {}) };
    };
    // Looked up under the site lock: a concurrent attempt of the same request has committed by now.
    const already = await findTermByRequest(tx, input.requestId);
    if (already) {
      const previous = already.previousTermId ? await findTerm(tx, already.previousTermId) : undefined;
      return {
        ok: true,
        term: toTermView(already),
        carriedOverSeconds: already.carriedOverSeconds,
        ...(previous ? { previousTerm: toTermView(previous) } : {}),
        site: await stored(),
        clock,
      };
    }
    const now = new Date(nowMs);
    const voucher = await claimVoucher(tx, input.codeHash, input.siteId, now);
    if (!voucher) {
      const existing = await findVoucherByHash(tx, input.codeHash);
      const code = !existing
        ? 'voucher_not_found'
        : existing.redeemedAt
          ? 'voucher_already_redeemed'
          : 'voucher_expired';
      return { ok: false, code, site: await stored(), clock };
    }
    const current = await findCurrentTerm(tx, input.siteId);
    // A term already past its end (its expiry was still to come) expires first: the same order as
    // if the expiry had happened at the end date, before this redemption.
    const ended =
      site.subscriptionStatus === 'active' && current && current.endsAt.getTime() <= nowMs
        ? current
        : undefined;
    if (ended) await expireInTransaction(tx, input.siteId, ended);
    const wasActive = site.subscriptionStatus === 'active' && !!current && !ended;
    const carry = carryOverSeconds({
      nowMs,
      current:
        wasActive && current ? { endsAtMs: current.endsAt.getTime(), ...limitsOf(current) } : undefined,
      next: { usersLimit: voucher.usersLimit, iqsLimit: voucher.iqsLimit },
    });
    if (current && wasActive) {
      await tx.update(subscriptionTerms).set({ replacedAt: now }).where(eq(subscriptionTerms.id, current.id));
    }
    const [term] = await tx
      .insert(subscriptionTerms)
      .values({
        siteId: input.siteId,
        voucherId: voucher.id,
        requestId: input.requestId,
        startsAt: now,
        endsAt: new Date(newTermEnd({ nowMs, durationDays: voucher.durationDays, carrySeconds: carry })),
        usersLimit: voucher.usersLimit,
        iqsLimit: voucher.iqsLimit,
        carriedOverSeconds: carry,
        previousTermId: wasActive ? current?.id : null,
      })
      .returning();
    if (!term) throw new Error('term insert returned nothing');
    const limits = limitsOf(term);
    if (wasActive) await trimSlots(tx, input.siteId, limits);
    else await fillSlots(tx, input.siteId, limits, now);
    await tx.update(sites).set({ subscriptionStatus: 'active' }).where(eq(sites.id, input.siteId));
    // K7: slots decide which members' credentials the IQs hold; after an expiry each IQ catches
    // up to what the database says now (the IQs subscribed again are told after the commit).
    await syncAccessLists(tx, { siteId: input.siteId });
    if (input.announce) await queueRedemptionAnnouncement(tx, { termId: term.id, siteId: input.siteId });
    await recordEvent(tx, {
      siteId: input.siteId,
      at: now,
      type: 'subscription.redeemed',
      actorProfileId: input.actorProfileId,
      data: {
        termId: term.id,
        voucherId: voucher.id,
        endsAt: term.endsAt.toISOString(),
        carriedOverSeconds: carry,
      },
    });
    return {
      ok: true,
      term: toTermView(term),
      carriedOverSeconds: carry,
      ...(wasActive && current ? { previousTerm: toTermView(current) } : {}),
      site: { status: 'active', term: toTermView(term) },
      ...(ended ? { expiredTermId: ended.id } : {}),
      clock,
    };
  });
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
    const stored: SiteSubscription = {
      status: locked?.subscriptionStatus ?? 'none',
      ...(current ? { term: toTermView(current) } : {}),
    };
    if (!current || current.id !== input.termId || current.endsAt.getTime() > input.nowMs) {
      return { expired: false, site: stored };
    }
    if (locked?.subscriptionStatus !== 'expired') await expireInTransaction(tx, input.siteId, current);
    return { expired: true, site: { ...stored, status: 'expired' } };
  });
}

/**
 * V6 in a transaction holding the site's lock, in a constant number of statements: every member and
 * IQ loses its slot, the site is expired, and the event says so at the term's end date.
 */
async function expireInTransaction(tx: Tx, siteId: string, term: Term) {
  await unsubscribeEverything(tx, siteId);
  await tx.update(sites).set({ subscriptionStatus: 'expired' }).where(eq(sites.id, siteId));
  await recordEvent(tx, {
    siteId,
    at: term.endsAt,
    type: 'subscription.expired',
    actorKind: 'system',
    data: { termId: term.id },
  });
}
