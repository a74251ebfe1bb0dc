import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTimeSkippingEnv } from '../../infra/temporal-servers';
import { querySubscriptionState, redeemVoucher } from '../../workflows/client/subscription';
import { createSite, DAY, voucher } from '../support/fixtures';
import { expectSiteMail } from '../support/site-mail';
import { startTestSystem, type TestSystem } from '../support/system';

let env: TestWorkflowEnvironment;
let sys: TestSystem;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  // Uncached: every workflow task replays from history, and restarted workers resume at once.
  sys = await startTestSystem({ env, uncachedWorker: true });
});
afterAll(async () => {
  await sys?.close();
  await env?.teardown();
});

describe('subscription lifecycle on the time-skipping server', () => {
  it('a 365-day voucher sends exactly three reminders at −28, −7 and −1 days, then expires at the end', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    const v = await voucher(sys, { durationDays: 365 });
    const result = await redeemVoucher(sys.temporal, sys.taskQueue, site.id, {
      codeHash: v.codeHash,
      requestId: randomUUID(),
      actorProfileId: owner.id,
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.term.endsAtMs - result.term.startsAtMs).toBe(365 * DAY);
    await expectSiteMail(sys, site.name, ['redemption-receipt']);

    await env.sleep(365 * DAY - 28 * DAY - 60_000);
    await expectSiteMail(sys, site.name, ['redemption-receipt']);
    await env.sleep(2 * 60_000);
    await expectSiteMail(sys, site.name, ['redemption-receipt', 'subscription-reminder28']);
    await env.sleep(21 * DAY);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder28',
      'subscription-reminder7',
    ]);
    await env.sleep(6 * DAY);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder28',
      'subscription-reminder7',
      'subscription-reminder1',
    ]);
    const before = await querySubscriptionState(sys.temporal, site.id);
    expect(before.status).toBe('active');
    await env.sleep(DAY);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder28',
      'subscription-reminder7',
      'subscription-reminder1',
      'subscription-expired',
    ]);
    await vi.waitFor(
      async () => expect((await querySubscriptionState(sys.temporal, site.id)).status).toBe('expired'),
      { timeout: 15_000 },
    );
    const after = await querySubscriptionState(sys.temporal, site.id);
    expect(after.status).toBe('expired');
    const [row] = await sys.sql`select subscription_status from sites where id = ${site.id}`;
    expect(row?.subscription_status).toBe('expired');
  });

  // The time-skipping server does not move time while a workflow task waits for a worker, so each
  // restart happens between time steps: the new worker has no cache and must replay from history.
  it('workers restarted throughout a lifecycle, one right after a timer fired, send every email once and keep one term', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    const v = await voucher(sys, { durationDays: 365 });
    const result = await redeemVoucher(sys.temporal, sys.taskQueue, site.id, {
      codeHash: v.codeHash,
      requestId: randomUUID(),
      actorProfileId: owner.id,
    });
    expect(result.ok).toBe(true);
    await expectSiteMail(sys, site.name, ['redemption-receipt']);
    const restart = async () => {
      await sys.stopWorker();
      await sys.startWorker();
    };

    await env.sleep(365 * DAY - 28 * DAY - 60_000);
    await restart();
    // The reminder's timer has just fired: its workflow task or activity may be in flight at the restart.
    await env.sleep(2 * 60_000);
    await restart();
    await expectSiteMail(sys, site.name, ['redemption-receipt', 'subscription-reminder28']);
    await env.sleep(21 * DAY);
    await restart();
    await env.sleep(6 * DAY);
    await restart();
    await env.sleep(DAY);
    await restart();
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder28',
      'subscription-reminder7',
      'subscription-reminder1',
      'subscription-expired',
    ]);
    // The query may meet a worker just restarted, replaying the history first: more than vitest's 1 s.
    await vi.waitFor(
      async () => expect((await querySubscriptionState(sys.temporal, site.id)).status).toBe('expired'),
      { timeout: 30_000, interval: 200 },
    );
    const terms = await sys.sql`select count(*)::int as n from subscription_terms where site_id = ${site.id}`;
    expect(terms[0]?.n).toBe(1);
    const [claimed] = await sys.sql`select redeemed_site_id from vouchers where id = ${v.id}`;
    expect(claimed?.redeemed_site_id).toBe(site.id);
  });
});
