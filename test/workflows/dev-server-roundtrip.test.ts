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

    const state = await querySubscriptionState(sys.temporal, site.id);
    expect(state.siteId).toBe(site.id);
    expect(state.status).toBe('active');
    expect(state.term?.id).toBe(result.term.id);
    expect(state.term!.endsAtMs - state.term!.startsAtMs).toBe(365 * DAY);
    expect(state.remindersSent).toEqual([]);

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
