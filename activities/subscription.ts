import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { syncAccessLists } from '../db/queries/access-lists';
import { recordEvent } from '../db/queries/events';
import { findSite, findSiteOwner } from '../db/queries/sites';
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
  type ReminderOffsetDays,
  reminderIdempotencyKey,
  type TermView,
} from '../domain/subscription';
import { formatSiteDate } from '../emails/format';
import type { Mailer } from '../emails/mailer';
import type { GatewayClient } from '../gateway/client';

export interface RedeemInput {
  siteId: string;
  codeHash: string;
  /** Unique per redemption request; a retried activity finds the term it already wrote. */
  requestId: string;
  actorProfileId: string;
  /** The site's time (sandbox clocks run ahead). */
  nowMs: number;
}

export const toTermView = (t: Term): TermView => ({
  id: t.id,
  startsAtMs: t.startsAt.getTime(),
  endsAtMs: t.endsAt.getTime(),
  usersLimit: t.usersLimit,
  iqsLimit: t.iqsLimit,
});

export function createSubscriptionActivities(deps: { db: Db; mailer: Mailer; gateway: GatewayClient }) {
  const { db, mailer, gateway } = deps;

  async function ownerAndSite(siteId: string) {
    const site = await findSite(db, siteId);
    if (!site) throw ApplicationFailure.nonRetryable(`site ${siteId} does not exist`, 'SiteNotFound');
    return { site, owner: await findSiteOwner(db, siteId) };
  }

  return {
    /** Current term and status as stored, for a workflow that starts on a site with history. */
    async loadSubscription(input: { siteId: string }) {
      const site = await findSite(db, input.siteId);
      if (!site) throw ApplicationFailure.nonRetryable(`site ${input.siteId} does not exist`, 'SiteNotFound');
      const term = await findCurrentTerm(db, input.siteId);
      return {
        status: site.subscriptionStatus,
        sandbox: site.sandbox,
        clockOffsetMs: site.clockOffsetSeconds * 1000,
        term: term ? toTermView(term) : undefined,
      };
    },

    /**
     * V3, V4, V10 in one transaction: the voucher is claimed and the new term written together, so a
     * voucher is never consumed without its term; the site row lock orders concurrent redemptions.
     */
    async redeemVoucher(input: RedeemInput): Promise<RedeemResult> {
      return db.transaction(async (tx) => {
        const site = await lockSite(tx, input.siteId);
        if (!site) return { ok: false, code: 'site_not_found' };
        // Looked up under the site lock: a concurrent attempt of the same request has committed by now.
        const already = await findTermByRequest(tx, input.requestId);
        if (already) {
          const previous = already.previousTermId ? await findTerm(tx, already.previousTermId) : undefined;
          return {
            ok: true,
            term: toTermView(already),
            carriedOverSeconds: already.carriedOverSeconds,
            ...(previous ? { previousTerm: toTermView(previous) } : {}),
          };
        }
        const now = new Date(input.nowMs);
        const voucher = await claimVoucher(tx, input.codeHash, input.siteId, now);
        if (!voucher) {
          const existing = await findVoucherByHash(tx, input.codeHash);
          if (!existing) return { ok: false, code: 'voucher_not_found' };
          return { ok: false, code: existing.redeemedAt ? 'voucher_already_redeemed' : 'voucher_expired' };
        }
        const current = await findCurrentTerm(tx, input.siteId);
        const wasActive =
          site.subscriptionStatus === 'active' && !!current && current.endsAt.getTime() > input.nowMs;
        const carry = carryOverSeconds({
          nowMs: input.nowMs,
          current:
            wasActive && current ? { endsAtMs: current.endsAt.getTime(), ...limitsOf(current) } : undefined,
          next: { usersLimit: voucher.usersLimit, iqsLimit: voucher.iqsLimit },
        });
        if (current && wasActive) {
          await tx
            .update(subscriptionTerms)
            .set({ replacedAt: now })
            .where(eq(subscriptionTerms.id, current.id));
        }
        const [term] = await tx
          .insert(subscriptionTerms)
          .values({
            siteId: input.siteId,
            voucherId: voucher.id,
            requestId: input.requestId,
            startsAt: now,
            endsAt: new Date(
              newTermEnd({ nowMs: input.nowMs, durationDays: voucher.durationDays, carrySeconds: carry }),
            ),
            usersLimit: voucher.usersLimit,
            iqsLimit: voucher.iqsLimit,
            carriedOverSeconds: carry,
            previousTermId: wasActive ? current?.id : null,
          })
          .returning();
        if (!term) throw new Error('term insert returned nothing');
        const limits = limitsOf(term);
        const slots = wasActive
          ? await trimSlots(tx, input.siteId, limits)
          : await fillSlots(tx, input.siteId, limits, now);
        log.info('voucher redeemed', { siteId: input.siteId, voucherId: voucher.id, termId: term.id, slots });
        await tx.update(sites).set({ subscriptionStatus: 'active' }).where(eq(sites.id, input.siteId));
        // K7: slots decide which members' credentials the IQs hold; after an expiry each IQ catches
        // up to what the database says now (the IQs subscribed again are told by the workflow).
        await syncAccessLists(tx, { siteId: input.siteId });
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
        };
      });
    },

    async sendRedemptionReceipt(input: { siteId: string; termId: string }) {
      const { site, owner } = await ownerAndSite(input.siteId);
      const term = await findTerm(db, input.termId);
      if (!owner || !term) return { sent: false };
      await mailer.send({
        to: owner.email,
        template: 'redemption-receipt',
        props: {
          siteName: site.name,
          endsOn: formatSiteDate(term.endsAt, site.timezone),
          usersLimit: term.usersLimit,
          iqsLimit: term.iqsLimit,
          carriedOverDays: Math.floor(term.carriedOverSeconds / 86_400),
        },
        idempotencyKey: `receipt:${term.id}`,
      });
      return { sent: true };
    },

    async sendReminder(input: { siteId: string; termId: string; offsetDays: ReminderOffsetDays }) {
      const { site, owner } = await ownerAndSite(input.siteId);
      const term = await findTerm(db, input.termId);
      if (!owner || !term) return { sent: false };
      await mailer.send({
        to: owner.email,
        template: 'subscription-reminder',
        props: {
          siteName: site.name,
          endsOn: formatSiteDate(term.endsAt, site.timezone),
          daysLeft: input.offsetDays,
        },
        idempotencyKey: reminderIdempotencyKey(term.id, input.offsetDays),
      });
      return { sent: true };
    },

    /**
     * V6: the term ended. A constant number of statements whatever the site's size; a term that a later
     * redemption replaced is left alone (the redemption won the race).
     */
    async expireSubscription(input: { siteId: string; termId: string; nowMs: number }) {
      const expired = await db.transaction(async (tx) => {
        await lockSite(tx, input.siteId);
        const current = await findCurrentTerm(tx, input.siteId);
        if (!current || current.id !== input.termId) return false;
        const site = await findSite(tx, input.siteId);
        if (site?.subscriptionStatus === 'expired') return true;
        await unsubscribeEverything(tx, input.siteId);
        await tx.update(sites).set({ subscriptionStatus: 'expired' }).where(eq(sites.id, input.siteId));
        await recordEvent(tx, {
          siteId: input.siteId,
          at: new Date(input.nowMs),
          type: 'subscription.expired',
          actorKind: 'system',
          data: { termId: input.termId },
        });
        return true;
      });
      if (expired) {
        log.info('every member and IQ of the site lost its slot', {
          siteId: input.siteId,
          termId: input.termId,
        });
        await gateway.subscriptionChanged(input.siteId);
      }
      return { expired };
    },

    async sendExpiredEmail(input: { siteId: string; termId: string }) {
      const { site, owner } = await ownerAndSite(input.siteId);
      const term = await findTerm(db, input.termId);
      if (!owner || !term) return { sent: false };
      await mailer.send({
        to: owner.email,
        template: 'subscription-expired',
        props: { siteName: site.name, endedOn: formatSiteDate(term.endsAt, site.timezone) },
        idempotencyKey: `expired:${term.id}`,
      });
      return { sent: true };
    },

    async notifySubscriptionChanged(input: { siteId: string }) {
      await gateway.subscriptionChanged(input.siteId);
    },

    /** O2: the sandbox's clock, read by the API for the site's "now". Refused on real sites. */
    async setSiteClockOffset(input: { siteId: string; offsetSeconds: number }) {
      const [row] = await db
        .update(sites)
        .set({ clockOffsetSeconds: input.offsetSeconds })
        .where(and(eq(sites.id, input.siteId), eq(sites.sandbox, true)))
        .returning({ id: sites.id });
      if (!row) throw ApplicationFailure.nonRetryable('not a sandbox site', 'NotSandbox');
    },
  };
}

const limitsOf = (t: { usersLimit: number; iqsLimit: number }) => ({
  usersLimit: t.usersLimit,
  iqsLimit: t.iqsLimit,
});

export type SubscriptionActivities = ReturnType<typeof createSubscriptionActivities>;
