import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { findSite, findSiteOwner } from '../db/queries/sites';
import { findCurrentTerm, findTerm } from '../db/queries/subscriptions';
import { sites } from '../db/schema';
import { type RedeemResult, type ReminderOffsetDays, reminderIdempotencyKey } from '../domain/subscription';
import { formatSiteDate } from '../emails/format';
import type { Mailer } from '../emails/mailer';
import type { GatewayClient } from '../gateway/client';
import { expireTerm, type RedeemInput, redeemVoucher, toTermView } from '../operations/subscription';

export function createSubscriptionActivities(deps: { db: Db; mailer: Mailer; gateway: GatewayClient }) {
  const { db, mailer, gateway } = deps;

  /** A term's email: the site, its owner (S5) and the term; undefined when there is no one to tell. */
  async function termEmail(input: { siteId: string; termId: string }) {
    const site = await findSite(db, input.siteId);
    if (!site) throw ApplicationFailure.nonRetryable(`site ${input.siteId} does not exist`, 'SiteNotFound');
    const owner = await findSiteOwner(db, input.siteId);
    const term = await findTerm(db, input.termId);
    return owner && term ? { site, owner, term } : undefined;
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
      const result = await redeemVoucher(db, input);
      if (result.ok) log.info('voucher redeemed', { siteId: input.siteId, termId: result.term.id });
      return result;
    },

    async sendRedemptionReceipt(input: { siteId: string; termId: string }) {
      const found = await termEmail(input);
      if (!found) return { sent: false };
      const { site, owner, term } = found;
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
      const found = await termEmail(input);
      if (!found) return { sent: false };
      const { site, owner, term } = found;
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
      const expired = await expireTerm(db, {
        siteId: input.siteId,
        termId: input.termId,
        now: new Date(input.nowMs),
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
      const found = await termEmail(input);
      if (!found) return { sent: false };
      const { site, owner, term } = found;
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

export type SubscriptionActivities = ReturnType<typeof createSubscriptionActivities>;
