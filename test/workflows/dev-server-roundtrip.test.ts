import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { querySubscriptionState, redeemVoucher } from '../../workflows/client/subscription';
import { subscriptionWorkflowId } from '../../workflows/ids';
import { createSite, DAY, voucher } from '../support/fixtures';
import { startTestSystem, type TestSystem } from '../support/system';

let sys: TestSystem;
const started: string[] = [];

beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  // The workflow would wait a year for its reminders; leave the shared dev server clean.
  for (const workflowId of started) {
    await sys?.temporal.workflow
      .getHandle(workflowId)
      .terminate('test finished')
      .catch(() => {});
  }
  await sys?.close();
});

describe('subscription workflow on the dev server (real time)', () => {
  it('redeems a voucher, reports an active 365-day term and sends the receipt once', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    started.push(subscriptionWorkflowId(site.id));
    const v = await voucher(sys, { durationDays: 365 });
    const input = { codeHash: v.codeHash, requestId: randomUUID(), actorProfileId: owner.id };

    const before = Date.now();
    const result = await redeemVoucher(sys.temporal, sys.taskQueue, site.id, input);
    const after = Date.now();
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.term.endsAtMs - result.term.startsAtMs).toBe(365 * DAY);
    // Real time: the term starts now (the database clock, within a few seconds of ours).
    expect(result.term.startsAtMs).toBeGreaterThanOrEqual(before - 5_000);
    expect(result.term.startsAtMs).toBeLessThanOrEqual(after + 5_000);

    // O1: the state in ISO times with the plan: the next reminder and what the workflow waits for.
    const iso = (ms: number) => new Date(ms).toISOString();
    const reminder28 = iso(result.term.endsAtMs - 28 * DAY);
    await vi.waitFor(
      async () =>
        expect(await querySubscriptionState(sys.temporal, site.id)).toEqual({
          siteId: site.id,
          status: 'active',
          sandbox: false,
          now: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          clockOffsetSeconds: 0,
          term: {
            id: result.term.id,
            startsAt: iso(result.term.startsAtMs),
            endsAt: iso(result.term.endsAtMs),
            usersLimit: 10,
            iqsLimit: 2,
          },
          remindersSent: [],
          nextReminderAt: reminder28,
          nextReminderDays: 28,
          receiptsDue: [],
          expiredEmailsDue: [],
          activity: `Waiting for the 28-day reminder at ${reminder28} (site time)`,
          waitingFor: { what: 'reminder', until: reminder28 },
        }),
      { timeout: 20_000, interval: 200 },
    );
    const state = await querySubscriptionState(sys.temporal, site.id);
    expect(Math.abs(Date.parse(state.now) - Date.now())).toBeLessThan(60_000);

    // Temporal user metadata: the workflow's summary, the timer's and the activities' (ids only).
    const handle = sys.temporal.workflow.getHandle(subscriptionWorkflowId(site.id));
    const described = await handle.describe();
    expect(await described.staticSummary()).toBe(`Subscription of site ${site.id}`);
    expect(await described.staticDetails()).toContain('query `state`');
    const summaries = (await handle.fetchHistory()).events!.flatMap((e) => {
      const payload = e.userMetadata?.summary;
      return payload?.data ? [JSON.parse(Buffer.from(payload.data).toString('utf8')) as string] : [];
    });
    // The first claim loads the site with it: one activity before the answer, and the receipt and IQ
    // push go through the worker's relay: no activity after it (issue 15).
    expect(summaries).toEqual([
      `Subscription of site ${site.id}`,
      'Claim the voucher and start the term',
      '28-day reminder',
    ]);

    const receipts = async () =>
      (await sys.mailbox()).filter(
        (m) => m.template === 'redemption-receipt' && m.subject.includes(site.name),
      );
    await vi.waitFor(async () => expect(await receipts()).toHaveLength(1), {
      timeout: 20_000,
      interval: 200,
    });
    const [receipt] = await receipts();
    expect(receipt!.to).toBe(owner.email);
    expect(receipt!.idempotencyKey).toBe(`receipt:${result.term.id}`);

    // The same request again (a client retry) is the same redemption: no second term, no second email.
    const again = await redeemVoucher(sys.temporal, sys.taskQueue, site.id, input);
    expect(again).toMatchObject({ ok: true, term: { id: result.term.id } });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await receipts()).toHaveLength(1);

    const [row] = await sys.sql`select subscription_status from sites where id = ${site.id}`;
    expect(row?.subscription_status).toBe('active');
  });
});
