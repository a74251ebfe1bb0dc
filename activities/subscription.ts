import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq } from 'drizzle-orm';
import type { Db, DbOrTx } from '../db/client';
import { findSite } from '../db/queries/sites';
import { findCurrentTerm, findTermEmailFacts } from '../db/queries/subscriptions';
import { sites } from '../db/schema';
import {
  explainCarryOver,
  type ReminderOffsetDays,
  reminderIdempotencyKey,
  reminderToSend,
} from '../domain/subscription';
import { formatSiteDate } from '../emails/format';
import type { Mailer } from '../emails/mailer';
import type { GatewayClient } from '../gateway/client';
import {
  expireTerm,
  limitsOf,
  type RedeemInput,
  type RedeemOutcome,
  redeemVoucher,
  toTermView,
} from '../operations/subscription';

/** Activities that send an email about a site at a moment of the site's time (sandbox clocks run ahead). */
interface SiteEmailInput {
  siteId: string;
  termId: string;
  /** The site's time as the workflow saw it; absent in calls recorded by earlier workflow code. */
  nowMs?: number;
  /**
   * The redemption relay's receipt, sent right after the claim: the site's time is its term's start
   * (the relay has no workflow clock; a time-skipping server's runs ahead of the real one).
   */
  atTermStart?: boolean;
}

export interface SubscriptionActivityDeps {
  db: Db;
  mailer: Mailer;
  gateway: GatewayClient;
  /** The worker's redemption relay (outbox/redemption-relay.ts): kicked once a claim queued an announcement. */
  redemptions?: { handOver(): Promise<unknown> };
}

export function createSubscriptionActivities(deps: SubscriptionActivityDeps) {
  const { db, mailer, gateway } = deps;

  /** The site, its term and where its admin emails go (S5); undefined when there is no one to tell. */
  async function emailContext(input: SiteEmailInput, within: DbOrTx = db) {
    const facts = await findTermEmailFacts(within, input);
    if (!facts) throw ApplicationFailure.nonRetryable(`site ${input.siteId} does not exist`, 'SiteNotFound');
    const { site, to, term, previous } = facts;
    if (!to || !term) return undefined;
    const date = (at: Date) => formatSiteDate(at, site.timezone);
    const nowMs =
      input.nowMs ??
      (input.atTermStart ? term.startsAt.getTime() : Date.now() + site.clockOffsetSeconds * 1000);
    return {
      term,
      previous,
      to,
      date,
      nowMs,
      common: {
        siteName: site.name,
        ...(site.sandbox ? { sandbox: { siteTime: date(new Date(nowMs)) } } : {}),
      },
    };
  }

  async function sendReceipt(input: SiteEmailInput, within?: DbOrTx) {
    const ctx = await emailContext(input, within);
    if (!ctx) return { sent: false };
    const { term, previous, date } = ctx;
    const explained = explainCarryOver({
      nowMs: term.startsAt.getTime(),
      ...(previous ? { previous: { endsAtMs: previous.endsAt.getTime(), ...limitsOf(previous) } } : {}),
      next: limitsOf(term),
    });
    await mailer.send(
      {
        to: ctx.to,
        template: 'redemption-receipt',
        props: {
          ...ctx.common,
          endsOn: date(term.endsAt),
          usersLimit: term.usersLimit,
          iqsLimit: term.iqsLimit,
          voucherSeconds: Math.round(
            (term.endsAt.getTime() - term.startsAt.getTime()) / 1000 - term.carriedOverSeconds,
          ),
          carriedSeconds: term.carriedOverSeconds,
          ...(previous
            ? {
                previous: {
                  remainingSeconds: explained.remainingSeconds,
                  usersLimit: previous.usersLimit,
                  iqsLimit: previous.iqsLimit,
                  ...(explained.scaledBy ? { scaledBy: explained.scaledBy } : {}),
                },
              }
            : {}),
        },
        idempotencyKey: `receipt:${term.id}`,
      },
      within,
    );
    return { sent: true };
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
        ...(term ? { term: toTermView(term) } : {}),
        version: site.subscriptionVersion,
      };
    },

    /**
     * V3, V4, V10 in one transaction: the voucher is claimed and the new term written together, so a
     * voucher is never consumed without its term; the site row lock orders concurrent redemptions.
     */
    async redeemVoucher(input: RedeemInput): Promise<RedeemOutcome> {
      const outcome = await redeemVoucher(db, input);
      if (outcome.ok) log.info('voucher redeemed', { siteId: input.siteId, termId: outcome.term.id });
      // Not awaited: the answer does not wait for the receipt; a failed round leaves it to the sweep.
      if (outcome.ok && input.announce) void deps.redemptions?.handOver();
      return outcome;
    },

    /** Sends the receipt of a redemption (S5: to the owner's address, V4 explained). */
    sendRedemptionReceipt: (input: SiteEmailInput) => sendReceipt(input),

    /**
     * After a redemption was answered: the site's IQs learn the new state at once, then the receipt.
     * `within`: a relay's transaction, which holds its row (Temporal passes none): every statement
     * runs on its connection, so the relay never waits on its own pool.
     */
    async announceRedemption(input: SiteEmailInput, within?: DbOrTx) {
      await gateway.subscriptionChanged(input.siteId, within);
      return sendReceipt(input, within);
    },

    async sendReminder(input: SiteEmailInput & { offsetDays: ReminderOffsetDays }) {
      const ctx = await emailContext(input);
      if (!ctx) return { sent: false };
      // The workflow hears of a term the API claimed only once the relay told it: until then it may
      // hold the replaced one (V5: its pending reminders are dropped).
      const due = reminderToSend({
        offsetDays: input.offsetDays,
        nowMs: ctx.nowMs,
        term: {
          startsAtMs: ctx.term.startsAt.getTime(),
          endsAtMs: ctx.term.endsAt.getTime(),
          replaced: ctx.term.replacedAt !== null,
        },
      });
      if (!due.send) {
        log.info('reminder not sent', { siteId: input.siteId, termId: input.termId, reason: due.reason });
        return { sent: false };
      }
      await mailer.send({
        to: ctx.to,
        template: 'subscription-reminder',
        props: {
          ...ctx.common,
          endsOn: ctx.date(ctx.term.endsAt),
          offsetDays: input.offsetDays,
          daysLeft: due.daysLeft,
          usersLimit: ctx.term.usersLimit,
          iqsLimit: ctx.term.iqsLimit,
        },
        idempotencyKey: reminderIdempotencyKey(ctx.term.id, input.offsetDays),
      });
      return { sent: true };
    },

    /**
     * V6: the term ended. A constant number of statements whatever the site's size; a term that a later
     * redemption replaced is left alone (the redemption won the race).
     */
    async expireSubscription(input: { siteId: string; termId: string; nowMs: number }) {
      const { expired, site } = await expireTerm(db, input);
      if (expired) {
        log.info('every member and IQ of the site lost its slot', {
          siteId: input.siteId,
          termId: input.termId,
        });
        await gateway.subscriptionChanged(input.siteId);
      }
      return { expired, site };
    },

    async sendExpiredEmail(input: SiteEmailInput) {
      const ctx = await emailContext(input);
      if (!ctx) return { sent: false };
      await mailer.send({
        to: ctx.to,
        template: 'subscription-expired',
        props: { ...ctx.common, endedOn: ctx.date(ctx.term.endsAt) },
        idempotencyKey: `expired:${ctx.term.id}`,
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

/**
 * What a redemption relay (the API's, kicked by its claims; the worker's, sweeping) does for a queued
 * announcement once it has told the site's workflow: the site's IQs learn the new state, then the
 * receipt goes out (as the `announceRedemption` activity that runs of earlier workflow code call).
 */
export function createRedemptionAnnouncer(deps: Omit<SubscriptionActivityDeps, 'redemptions'>) {
  const { announceRedemption } = createSubscriptionActivities(deps);
  return (row: { siteId: string; termId: string }, tx: DbOrTx) =>
    announceRedemption({ siteId: row.siteId, termId: row.termId, atTermStart: true }, tx);
}
