/**
 * Redemptions claimed by the API (issue 15): the claim commits under the site's lock and queues, with
 * its term, what the site's workflow is to be told; a redemption relay tells it with signalWithStart.
 * - Generated deliveries of a chain's tellings (out of order, repeated, several at once, some never)
 *   leave the workflow with the newest delivered state (sites.subscription_version), and a workflow
 *   started by a telling takes the site's clock from it instead of loading the site. Some claims come
 *   past the current term's end and expire it first (V6): every expired term told, in whatever order,
 *   gets its expired email, even when a newer telling came first.
 * - With Temporal away, a redemption is still answered, the telling stays queued, and a relay that
 *   reaches Temporal later tells the workflow, once, with the receipt sent once.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRedemptionAnnouncer } from '../../activities/subscription';
import { createApp } from '../../api/app';
import { findCurrentTerm } from '../../db/queries/subscriptions';
import { redemptionAnnouncements } from '../../db/schema';
import { DAY_MS, type SubscriptionChanged } from '../../domain/subscription';
import { createMailer } from '../../emails/mailer';
import { createGatewayClient } from '../../gateway/client';
import { freePort } from '../../infra/free-port';
import { logger } from '../../observability/logger';
import { redeemVoucher } from '../../operations/subscription';
import { createRedemptionRelay } from '../../outbox/redemption-relay';
import { querySubscriptionState, subscriptionTeller } from '../../workflows/client/subscription';
import { subscriptionWorkflowId } from '../../workflows/ids';
import { SiteId, SubscriptionEndsAt, SubscriptionStatus } from '../../workflows/search-attributes';
import { createSite, voucher } from '../support/fixtures';
import { allowTransactionsRunAgain, endOddRunsAsDeadlocked } from '../support/no-deadlocks';
import { siteMail } from '../support/site-mail';
import { startTestSystem, TEST_BASE_URL, TEST_TOKEN_SECRET, type TestSystem } from '../support/system';

const EventType = proto.temporal.api.enums.v1.EventType;
const RUNS = Number(process.env.KS_PROPERTY_RUNS ?? 12);

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

/**
 * `k` redemptions of one site claimed as the API claims them; what each queued for its workflow. A
 * claim marked `late` comes a day after the current term's end (by its clock) and expires it first.
 */
async function claimedChain(k: number, late: readonly boolean[] = []) {
  const owner = await sys.signIn();
  const site = await createSite(sys, owner.id);
  const tellings: SubscriptionChanged[] = [];
  let clockMs = Date.now();
  for (let i = 0; i < k; i++) {
    const code = await voucher(sys, { durationDays: 30 + i });
    const current = tellings.at(-1)?.site.term;
    if (late[i] && current) clockMs = current.endsAtMs + DAY_MS;
    const result = await redeemVoucher(
      sys.db,
      {
        siteId: site.id,
        codeHash: code.codeHash,
        requestId: randomUUID(),
        actorProfileId: owner.id,
        announce: true,
      },
      () => clockMs,
    );
    if (!result.ok) throw new Error(`claim refused: ${result.code}`);
    const [row] = await sys.db
      .delete(redemptionAnnouncements)
      .where(eq(redemptionAnnouncements.termId, result.term.id))
      .returning();
    tellings.push(row!.workflowSignal!);
  }
  return { siteId: site.id, tellings };
}

/** Timers a history started that neither fired nor were cancelled. */
function pendingTimers(events: proto.temporal.api.history.v1.IHistoryEvent[]) {
  const pending = new Set<string>();
  for (const e of events) {
    if (e.timerStartedEventAttributes) pending.add(e.timerStartedEventAttributes.timerId!);
    if (e.timerFiredEventAttributes) pending.delete(e.timerFiredEventAttributes.timerId!);
    if (e.timerCanceledEventAttributes) pending.delete(e.timerCanceledEventAttributes.timerId!);
  }
  return [...pending];
}

/** The histories of the workflow's runs, first to current (a run after an expiry continued as new). */
async function runHistories(siteId: string) {
  const workflowId = subscriptionWorkflowId(siteId);
  const { raw } = await sys.temporal.workflow.getHandle(workflowId).describe();
  const runs: proto.temporal.api.history.v1.IHistoryEvent[][] = [];
  for (let runId = raw.workflowExecutionInfo?.firstRunId; runId; ) {
    const events = (await sys.temporal.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    runs.push(events);
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
  }
  return runs;
}

/** The workflow's runs' histories once it has completed a task after its `signals`-th signal. */
async function historyAfterSignals(siteId: string, signals: number) {
  return vi.waitFor(
    async () => {
      const runs = await runHistories(siteId);
      const signalled = runs.flatMap((events, run) =>
        events.flatMap((e, i) =>
          e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED ? [{ run, i }] : [],
        ),
      );
      expect(signalled).toHaveLength(signals);
      const last = signalled.at(-1)!;
      expect(
        runs[last.run]!.slice(last.i).some(
          (e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        ),
      ).toBe(true);
      return runs;
    },
    { timeout: 20_000, interval: 100 },
  );
}

/** The terms of `tellings` whose expired email went out, sorted. */
async function expiredEmailed(tellings: readonly SubscriptionChanged[]) {
  const keys = tellings.flatMap((t) => (t.site.term ? [`expired:${t.site.term.id}`] : []));
  const rows = await sys.sql`select idempotency_key from sent_emails
    where idempotency_key = any(${keys}::text[]) and status = 'sent'`;
  return rows.map((r) => (r.idempotency_key as string).slice('expired:'.length)).sort();
}

describe('the subscription workflow told of claimed redemptions', () => {
  it('generated deliveries of a chain’s tellings leave the workflow with the newest one delivered', async () => {
    const delivery = fc.record({ pick: fc.nat(), together: fc.boolean(), delayMs: fc.nat(30) });
    const scenario = fc.record({
      length: fc.integer({ min: 2, max: 4 }),
      late: fc.array(fc.boolean(), { maxLength: 4 }),
      deliveries: fc.array(delivery, { minLength: 1, maxLength: 8 }),
    });
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ length, late, deliveries }) => {
        const { siteId, tellings } = await claimedChain(length, late);
        const tell = subscriptionTeller(sys.temporal, sys.taskQueue);
        const sent = deliveries.map((d) => ({ ...d, telling: tellings[d.pick % length]! }));
        // A delivery `together` with the one before goes out at the same time; the others after it.
        let previous: Promise<void> = Promise.resolve();
        const all: Promise<void>[] = [];
        for (const d of sent) {
          const after = d.together ? Promise.resolve() : previous;
          previous = after
            .then(() => new Promise((r) => setTimeout(r, d.delayMs)))
            .then(() => tell(siteId, d.telling));
          all.push(previous);
        }
        await Promise.all(all);

        const [first = []] = await historyAfterSignals(siteId, sent.length);
        // Started by a telling, the run took the clock from it: no local activity loaded the site.
        expect(
          first.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity'),
        ).toEqual([]);
        // Every expired term told has its expired email, whichever telling came first (V6); a run that
        // expired one continues as new.
        const expired = [...new Set(sent.flatMap((d) => d.telling.expiredTermId ?? []))].sort();
        await vi.waitFor(async () => expect(await expiredEmailed(tellings)).toEqual(expired), {
          timeout: 20_000,
          interval: 100,
        });
        // The newest state delivered, or, once a run continued as new, the database's: a continued
        // run loads the site (every claim of the chain has committed by now).
        const newest =
          expired.length > 0
            ? tellings.at(-1)!
            : sent.reduce((a, b) => (b.telling.site.version > a.telling.site.version ? b : a)).telling;
        await vi.waitFor(
          async () => {
            const state = await querySubscriptionState(sys.temporal, siteId);
            expect(state.status).toBe('active');
            expect(state.term?.id).toBe(newest.site.term!.id);
            expect(new Date(state.term!.endsAt).getTime()).toBe(newest.site.term!.endsAtMs);
            // Its search attributes say the same, whichever telling started it.
            const { typedSearchAttributes } = await sys.temporal.workflow
              .getHandle(subscriptionWorkflowId(siteId))
              .describe();
            expect(typedSearchAttributes.get(SubscriptionStatus)).toBe('active');
            expect(typedSearchAttributes.get(SubscriptionEndsAt)?.getTime()).toBe(newest.site.term!.endsAtMs);
            // It waits for the newest term's first reminder on one timer: a telling that woke it
            // cancelled the timer it waited on (workflows/wait.ts), none is left to fire for nothing.
            expect(pendingTimers((await runHistories(siteId)).at(-1)!)).toHaveLength(1);
          },
          { timeout: 20_000, interval: 100 },
        );
        runs++;
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    console.log(`[told] ${runs} generated deliveries`);
    expect(runs).toBe(RUNS);
  });

  it('a telling that wakes the wait for a reminder cancels its timer, and the next wait starts one for the new term', async () => {
    const { siteId, tellings } = await claimedChain(2);
    const tell = subscriptionTeller(sys.temporal, sys.taskQueue);
    await tell(siteId, tellings[0]!);
    const [first = []] = await historyAfterSignals(siteId, 1);
    expect(pendingTimers(first)).toHaveLength(1);
    await tell(siteId, tellings[1]!);
    const [events = []] = await historyAfterSignals(siteId, 2);
    const cancelled = events.filter((e) => e.timerCanceledEventAttributes);
    expect(cancelled.map((e) => e.timerCanceledEventAttributes!.timerId)).toEqual(pendingTimers(first));
    expect(pendingTimers(events)).toHaveLength(1);
    expect(pendingTimers(events)).not.toEqual(pendingTimers(first));
    const state = await querySubscriptionState(sys.temporal, siteId);
    expect(state.term?.id).toBe(tellings[1]!.site.term!.id);
    expect(state.waitingFor?.what).toBe('reminder');
  });

  it('a telling overtaken by a newer one still has the term its claim expired emailed at once, and the run continues as new', async () => {
    // The second claim comes past the first term's end: it expires that term, and the third follows it.
    const { siteId, tellings } = await claimedChain(3, [false, true, false]);
    const [, expiring, newest] = tellings as [SubscriptionChanged, SubscriptionChanged, SubscriptionChanged];
    expect(expiring.expiredTermId).toBe(tellings[0]!.site.term!.id);
    const tell = subscriptionTeller(sys.temporal, sys.taskQueue);
    await tell(siteId, tellings[0]!);
    await historyAfterSignals(siteId, 1);
    await tell(siteId, newest);
    await historyAfterSignals(siteId, 2);
    // Told last, as a relay telling side by side can: its state is older than the workflow's.
    await tell(siteId, expiring);
    await vi.waitFor(async () => expect(await expiredEmailed(tellings)).toEqual([expiring.expiredTermId]), {
      timeout: 20_000,
      interval: 100,
    });
    await vi.waitFor(
      async () => {
        const runs = await runHistories(siteId);
        expect(runs).toHaveLength(2);
        // The first run asked for the patch where it mattered, and only there.
        const markers = runs[0]!.flatMap((e) => e.markerRecordedEventAttributes?.markerName ?? []);
        expect(markers).toEqual(['core_patch']);
        expect(pendingTimers(runs[1]!)).toHaveLength(1);
      },
      { timeout: 20_000, interval: 100 },
    );
    expect(await querySubscriptionState(sys.temporal, siteId)).toMatchObject({
      status: 'active',
      term: { id: newest.site.term!.id },
    });
  });

  it('a site’s first telling starts its workflow with the search attributes of its term: no upsert of its own', async () => {
    const { siteId, tellings } = await claimedChain(1);
    await subscriptionTeller(sys.temporal, sys.taskQueue)(siteId, tellings[0]!);
    const [events = []] = await historyAfterSignals(siteId, 1);
    const upserts = events.filter(
      (e) => e.eventType === EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    );
    expect(upserts).toEqual([]);
    const { typedSearchAttributes } = await sys.temporal.workflow
      .getHandle(subscriptionWorkflowId(siteId))
      .describe();
    expect(typedSearchAttributes.get(SiteId)).toBe(siteId);
    expect(typedSearchAttributes.get(SubscriptionStatus)).toBe('active');
    expect(typedSearchAttributes.get(SubscriptionEndsAt)?.getTime()).toBe(tellings[0]!.site.term!.endsAtMs);
  });

  it('a claim whose clock runs behind (another API host) starts its term where the current one started, not before', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    const claim = async (clockMs: number) => {
      const code = await voucher(sys, { durationDays: 30 });
      const result = await redeemVoucher(
        sys.db,
        { siteId: site.id, codeHash: code.codeHash, requestId: randomUUID(), actorProfileId: owner.id },
        () => clockMs,
      );
      if (!result.ok) throw new Error(`claim refused: ${result.code}`);
      return result;
    };
    const first = await claim(Date.now());
    const second = await claim(first.term.startsAtMs - 5_000);
    expect(second.term.startsAtMs).toBe(first.term.startsAtMs);
    expect(second.previousTerm?.id).toBe(first.term.id);
    expect(second.site?.version).toBe((first.site?.version ?? 0) + 1);
    const third = await claim(first.term.startsAtMs + 60_000);
    expect(third.term.startsAtMs).toBe(first.term.startsAtMs + 60_000);
  });

  it('Temporal away when a redemption is claimed: answered, the telling stays queued, and a relay that reaches Temporal tells the workflow once', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    const code = await voucher(sys, { durationDays: 30 });
    // The same API, but its Temporal client points at a port where nothing listens.
    const deadTemporal = new Client({
      connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }),
    });
    const mailer = createMailer({ db: sys.db, from: 'KS Cloud <test@ks.test>' });
    const gateway = createGatewayClient({ db: sys.db, sql: sys.sql });
    const deadRelay = createRedemptionRelay({
      db: sys.db,
      temporal: deadTemporal,
      taskQueue: sys.taskQueue,
      announce: createRedemptionAnnouncer({ db: sys.db, mailer, gateway }),
    });
    const app = createApp({
      db: sys.db,
      temporal: deadTemporal,
      mailer,
      gateway,
      notifications: sys.notifications,
      redemptions: deadRelay,
      env: {
        KS_MODE: 'development',
        PUBLIC_BASE_URL: TEST_BASE_URL,
        TOKEN_SECRET: TEST_TOKEN_SECRET,
        TEMPORAL_TASK_QUEUE: sys.taskQueue,
      },
      now: () => new Date(),
    });
    const res = await app.request(`/sites/${site.id}/subscription/redemptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ code: code.code }),
    });
    expect(res.status).toBe(200);
    const term = (await findCurrentTerm(sys.db, site.id))!;
    expect(((await res.json()) as { term: { endsAt: string } }).term.endsAt).toBe(term.endsAt.toISOString());

    // Its own relay could not tell the workflow (stop waits for that round to give up): the row
    // stays queued, no workflow exists, no receipt went out.
    await deadRelay.stop();
    const queued = await sys.db
      .select()
      .from(redemptionAnnouncements)
      .where(eq(redemptionAnnouncements.siteId, site.id));
    expect(queued).toEqual([expect.objectContaining({ termId: term.id })]);
    await expect(
      sys.temporal.workflow.getHandle(subscriptionWorkflowId(site.id)).describe(),
    ).rejects.toThrow();
    expect(await siteMail(sys, site.name)).toEqual([]);

    // A relay that reaches Temporal (the worker's sweep) tells it; the next round finds nothing.
    expect(await sys.redemptions.handOver()).toBeGreaterThanOrEqual(1);
    expect(
      await sys.db.select().from(redemptionAnnouncements).where(eq(redemptionAnnouncements.siteId, site.id)),
    ).toEqual([]);
    await historyAfterSignals(site.id, 1);
    const state = await querySubscriptionState(sys.temporal, site.id);
    expect(state).toMatchObject({ status: 'active', term: { id: term.id } });
    await sys.redemptions.handOver();
    await historyAfterSignals(site.id, 1);
    expect(await siteMail(sys, site.name)).toEqual(['redemption-receipt']);
    await gateway.close();
  });

  it('an announcement whose transaction PostgreSQL ends (a deadlock’s victim) runs again in the same round, and no row is said to stay queued', async () => {
    allowTransactionsRunAgain();
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    const code = await voucher(sys, { durationDays: 30 });
    // Claimed as the API claims it, its announcement queued for the relay.
    const claimed = await redeemVoucher(sys.db, {
      siteId: site.id,
      codeHash: code.codeHash,
      requestId: randomUUID(),
      actorProfileId: owner.id,
      announce: true,
    });
    if (!claimed.ok) throw new Error(`claim refused: ${claimed.code}`);
    // The relay's first run is ended at the receipt's record.
    const removeTrigger = await endOddRunsAsDeadlocked(sys.sql, {
      name: 'end_receipt_record',
      table: 'sent_emails',
      when: "new.template = 'redemption-receipt'",
    });
    const warned = vi.spyOn(logger, 'warn');
    let warnings: unknown[] = [];
    try {
      expect(await sys.redemptions.handOver()).toBe(1);
    } finally {
      warnings = warned.mock.calls.map((call) => call.at(-1));
      warned.mockRestore();
      await removeTrigger();
    }
    // It did not stay queued, so no warning says it did.
    expect(warnings).not.toContain('redemption announcement stays queued');
    expect(
      await sys.db.select().from(redemptionAnnouncements).where(eq(redemptionAnnouncements.siteId, site.id)),
    ).toEqual([]);
    expect(await siteMail(sys, site.name)).toEqual(['redemption-receipt']);
    // Told in both runs; the workflow adopts the term once.
    await historyAfterSignals(site.id, 2);
    expect(await querySubscriptionState(sys.temporal, site.id)).toMatchObject({
      status: 'active',
      term: { id: claimed.term.id },
    });
  });
});
