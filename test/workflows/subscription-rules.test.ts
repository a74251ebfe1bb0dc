import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createTimeSkippingEnv } from '../../infra/temporal-servers';
import { querySubscriptionState, redeemVoucher } from '../../workflows/client/subscription';
import { subscriptionWorkflowId } from '../../workflows/ids';
import { subscriptionWorkflow } from '../../workflows/subscription/workflow';
import { addIq, addMember, createSite, DAY, giveAccess, voucher } from '../support/fixtures';
import { sandboxSite } from '../support/sandbox';
import { expectSiteMail } from '../support/site-mail';
import { startTestSystem, type TestSystem } from '../support/system';

let env: TestWorkflowEnvironment;
let sys: TestSystem;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  sys = await startTestSystem({ env, followServerClock: true });
});
afterAll(async () => {
  await sys?.close();
  await env?.teardown();
});

/** A fresh token for a profile `sys.signIn` made (its password). */
async function signInAgain(email: string) {
  const res = await sys.request('POST', '/auth/login', {
    body: { email, password: 'correct horse battery' },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

async function redeemDirect(siteId: string, actorProfileId: string, code: { codeHash: string }) {
  const result = await redeemVoucher(sys.temporal, sys.taskQueue, siteId, {
    codeHash: code.codeHash,
    requestId: randomUUID(),
    actorProfileId,
  });
  if (!result.ok) throw new Error(`redemption refused: ${result.code}`);
  return result;
}

describe('subscription rules on the time-skipping server', () => {
  it('a 5-day voucher sends only the 1-day reminder, then expires', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    const result = await redeemDirect(site.id, owner.id, await voucher(sys, { durationDays: 5 }));
    expect(result.term.endsAtMs - result.term.startsAtMs).toBe(5 * DAY);
    await expectSiteMail(sys, site.name, ['redemption-receipt']);

    await env.sleep(4 * DAY - 60_000);
    await expectSiteMail(sys, site.name, ['redemption-receipt']);
    await env.sleep(2 * 60_000);
    await expectSiteMail(sys, site.name, ['redemption-receipt', 'subscription-reminder1']);
    await env.sleep(DAY);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder1',
      'subscription-expired',
    ]);
  });

  it('a redemption 10 days before the end drops the old reminders and carries 5 days pro rata (V3–V5)', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    const first = await redeemDirect(
      site.id,
      owner.id,
      await voucher(sys, { usersLimit: 10, iqsLimit: 2, durationDays: 365 }),
    );
    // The receipt goes out at once (the worker's relay, off the workflow), before any day passes.
    await expectSiteMail(sys, site.name, ['redemption-receipt']);
    await env.sleep(355 * DAY);
    await expectSiteMail(sys, site.name, ['redemption-receipt', 'subscription-reminder28']);

    const second = await redeemDirect(
      site.id,
      owner.id,
      await voucher(sys, { usersLimit: 20, iqsLimit: 2, durationDays: 365 }),
    );
    const remaining = Math.floor((first.term.endsAtMs - second.term.startsAtMs) / 1000);
    // V4: users doubled, so half of the remaining (whole) seconds carry over.
    expect(second.carriedOverSeconds).toBe(Math.floor(remaining / 2));
    expect(second.carriedOverSeconds).toBeGreaterThan(5 * 86_400 - 5);
    expect(second.carriedOverSeconds).toBeLessThanOrEqual(5 * 86_400);
    expect(second.term.endsAtMs).toBe(second.term.startsAtMs + 365 * DAY + second.carriedOverSeconds * 1000);
    expect(second.previousTerm?.id).toBe(first.term.id);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder28',
      'redemption-receipt',
    ]);

    // Past the old term's 7-day and 1-day moments and its end: nothing for it goes out.
    await env.sleep(11 * DAY);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder28',
      'redemption-receipt',
    ]);
    const state = await querySubscriptionState(sys.temporal, site.id);
    expect(state.status).toBe('active');
    expect(state.term?.id).toBe(second.term.id);
    expect(state.remindersSent).toEqual([]);

    // The new term's own 28-day reminder comes at its own moment.
    // The query's clock is the workflow's last activation, so count from the redemption instead.
    const untilNew28 = second.term.endsAtMs - 28 * DAY - (second.term.startsAtMs + 11 * DAY);
    await env.sleep(untilNew28 - 60_000);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder28',
      'redemption-receipt',
    ]);
    await env.sleep(2 * 60_000);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder28',
      'redemption-receipt',
      'subscription-reminder28',
    ]);
  });

  it('expiry unsubscribes everyone but keeps access methods; a new voucher refills slots in V10 order', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    await giveAccess(sys, site.id, owner.id);
    const base = Date.now() - 100 * DAY;
    const earlyUser = await sys.signIn();
    await addMember(sys, site.id, earlyUser.id, { joinedAt: new Date(base + DAY) });
    const admin = await sys.signIn();
    await addMember(sys, site.id, admin.id, { role: 'admin', joinedAt: new Date(base + 2 * DAY) });
    const lateUser = await sys.signIn();
    await addMember(sys, site.id, lateUser.id, { joinedAt: new Date(base + 3 * DAY) });
    const noAccess = await sys.signIn();
    await addMember(sys, site.id, noAccess.id, { joinedAt: new Date(base), access: false });
    // Inserted out of registration order: slots follow registration, not insertion.
    const newestIq = await addIq(sys, site.id, { registeredAt: new Date(base + 3 * DAY) });
    const oldestIq = await addIq(sys, site.id, { registeredAt: new Date(base + DAY) });
    const middleIq = await addIq(sys, site.id, { registeredAt: new Date(base + 2 * DAY) });

    await redeemDirect(
      site.id,
      owner.id,
      await voucher(sys, { usersLimit: 10, iqsLimit: 5, durationDays: 3 }),
    );
    await expectSiteMail(sys, site.name, ['redemption-receipt']);
    const subscribedMembers = async () =>
      (
        await sys.sql`select profile_id from memberships where site_id = ${site.id} and subscribed order by profile_id`
      ).map((r) => r.profile_id as string);
    const subscribedIqs = async () =>
      (await sys.sql`select id from iqs where site_id = ${site.id} and subscribed order by id`).map(
        (r) => r.id as string,
      );
    expect(await subscribedMembers()).toEqual([owner.id, earlyUser.id, admin.id, lateUser.id].sort());
    expect(await subscribedIqs()).toEqual([newestIq.iq.id, oldestIq.iq.id, middleIq.iq.id].sort());
    const accessBefore =
      await sys.sql`select id, status, revoked_at from access_methods where site_id = ${site.id} order by id`;

    await env.sleep(3 * DAY + 60_000);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder1',
      'subscription-expired',
    ]);
    await vi.waitFor(
      async () => expect((await querySubscriptionState(sys.temporal, site.id)).status).toBe('expired'),
      { timeout: 15_000 },
    );
    expect(await subscribedMembers()).toEqual([]);
    expect(await subscribedIqs()).toEqual([]);
    const accessAfter =
      await sys.sql`select id, status, revoked_at from access_methods where site_id = ${site.id} order by id`;
    expect(accessAfter).toEqual(accessBefore);
    expect(accessAfter.map((a) => a.status)).toEqual(['active', 'active', 'active', 'active']);
    await env.sleep(10 * DAY);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder1',
      'subscription-expired',
    ]);

    // Thirteen days on (the app's clock follows the server's), the 12-hour sessions have ended.
    const [earlyUserToken, adminToken, ownerToken] = await Promise.all(
      [earlyUser, admin, owner].map((p) => signInAgain(p.email)),
    );
    // V7: while expired a user member is refused, an admin may still view and redeem.
    const code = (await voucher(sys, { usersLimit: 3, iqsLimit: 2, durationDays: 30 })).code;
    const refused = await sys.request('POST', `/sites/${site.id}/subscription/redemptions`, {
      token: earlyUserToken,
      body: { code },
    });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { code: string }).code).toBe('forbidden');
    const view = await sys.request('GET', `/sites/${site.id}/subscription`, { token: adminToken });
    expect(((await view.json()) as { status: string }).status).toBe('expired');
    const redeemed = await sys.request('POST', `/sites/${site.id}/subscription/redemptions`, {
      token: adminToken,
      body: { code },
    });
    expect(redeemed.status).toBe(200);
    expect(((await redeemed.json()) as { carriedOverSeconds: number }).carriedOverSeconds).toBe(0);

    // V10: owner, then admins, then others by join date; IQs by registration.
    expect(await subscribedMembers()).toEqual([owner.id, admin.id, earlyUser.id].sort());
    expect(await subscribedIqs()).toEqual([oldestIq.iq.id, middleIq.iq.id].sort());
    const after = await sys.request('GET', `/sites/${site.id}/subscription`, { token: ownerToken });
    expect(await after.json()).toMatchObject({ status: 'active', usage: { users: 3, iqs: 2 } });
  });

  it('sandbox: support moves the clock 338 days and the 28-day reminder goes out; real sites have no clock', async () => {
    const support = await sys.signIn({ platformRole: 'support' });
    const owner = await sys.signIn();
    const name = `Sandbox ${randomUUID().slice(0, 8)}`;
    const { id: siteId } = await sandboxSite(sys, support.token, owner, { name });
    const code = (await voucher(sys, { durationDays: 365 })).code;
    const redeemed = await sys.request('POST', `/sites/${siteId}/subscription/redemptions`, {
      token: owner.token,
      body: { code },
    });
    expect(redeemed.status).toBe(200);
    await expectSiteMail(sys, name, ['invitation', 'redemption-receipt']);

    const moved = await sys.request('POST', `/support/sites/${siteId}/clock`, {
      token: support.token,
      body: { advanceSeconds: 338 * 86_400 },
    });
    expect(moved.status).toBe(200);
    await expectSiteMail(sys, name, ['invitation', 'redemption-receipt', 'subscription-reminder28']);
    // The email is recorded inside the activity; the workflow counts it once the activity completes.
    await vi.waitFor(
      async () => {
        const state = await querySubscriptionState(sys.temporal, siteId);
        expect(state.clockOffsetSeconds).toBe(338 * 86_400);
        expect(state.remindersSent).toEqual([28]);
      },
      { timeout: 30_000, interval: 200 },
    );

    // The emails say they come from a sandbox and show its time: the reminder's is 338 days on.
    const { term } = (await redeemed.json()) as { term: { startsAt: string; endsAt: string } };
    const mails = (await sys.mailbox()).filter((m) => m.subject.includes(name));
    expect(mails.map((m) => m.subject.startsWith('[Sandbox] '))).toEqual([true, true, true]);
    const siteTime = (text: string) => {
      const [, day, month, year, hh, mm] =
        /Site time when it was sent: (\d{1,2}) (\w+) (\d{4}) at (\d\d):(\d\d) \(UTC\)/.exec(
          text.replace(/\s+/g, ' '),
        ) ?? [];
      return Date.parse(`${day} ${month} ${year} ${hh}:${mm} UTC`);
    };
    const [invited, receipt, reminder] = mails.map((m) => siteTime(m.text));
    // The invitation shows the site's time too (the API's clock: this server's time runs on its own).
    expect(Number.isNaN(invited)).toBe(false);
    expect(Math.abs(receipt! - Date.parse(term.startsAt))).toBeLessThan(5 * 60_000);
    const reminderMoment = Date.parse(term.endsAt) - 28 * DAY;
    expect(reminder).toBeGreaterThanOrEqual(reminderMoment - 60_000);
    expect(reminder).toBeLessThan(reminderMoment + DAY + 5 * 60_000);

    const real = await createSite(sys, owner.id);
    const refused = await sys.request('POST', `/support/sites/${real.id}/clock`, {
      token: support.token,
      body: { advanceSeconds: 60 },
    });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { code: string }).code).toBe('not_sandbox');
  });

  it('S5: before the invited owner joins, the receipt, the reminder and the expired email go to the owner’s address', async () => {
    const installer = await sys.signIn({ platformRole: 'installer' });
    const ownerEmail = `owner-${randomUUID()}@example.test`;
    const name = `Installed ${randomUUID().slice(0, 8)}`;
    const created = await sys.request('POST', '/sites', {
      token: installer.token,
      body: { name, ownerEmail },
    });
    expect(created.status).toBe(201);
    const { id: siteId } = (await created.json()) as { id: string };
    const code = (await voucher(sys, { durationDays: 2 })).code;
    const redeemed = await sys.request('POST', `/sites/${siteId}/subscription/redemptions`, {
      token: installer.token,
      body: { code },
    });
    expect(redeemed.status).toBe(200);
    await expectSiteMail(sys, name, ['invitation', 'redemption-receipt']);
    await env.sleep(2 * DAY + 60_000);
    await expectSiteMail(sys, name, [
      'invitation',
      'redemption-receipt',
      'subscription-reminder1',
      'subscription-expired',
    ]);
    const mails = (await sys.mailbox()).filter((m) => m.subject.includes(name));
    expect(new Set(mails.map((m) => m.to))).toEqual(new Set([ownerEmail]));
    expect(mails.some((m) => m.to === installer.email)).toBe(false);
  });

  it('continue-as-new with a low threshold keeps the term and the reminders; histories replay', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    const workflowId = subscriptionWorkflowId(site.id);
    const started = await sys.temporal.workflow.start(subscriptionWorkflow, {
      workflowId,
      taskQueue: sys.taskQueue,
      args: [{ siteId: site.id, maxHistoryEvents: 30 }],
    });
    const firstRunId = started.firstExecutionRunId;
    const result = await redeemDirect(site.id, owner.id, await voucher(sys, { durationDays: 30 }));
    await expectSiteMail(sys, site.name, ['redemption-receipt']);

    await env.sleep(2 * DAY + 60_000);
    await expectSiteMail(sys, site.name, ['redemption-receipt', 'subscription-reminder28']);
    await env.sleep(21 * DAY);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder28',
      'subscription-reminder7',
    ]);
    await vi.waitFor(
      async () =>
        expect((await sys.temporal.workflow.getHandle(workflowId).describe()).runId).not.toBe(firstRunId),
      { timeout: 15_000 },
    );
    const firstRun = await sys.temporal.workflow.getHandle(workflowId, firstRunId).describe();
    expect(firstRun.status.name).toBe('CONTINUED_AS_NEW');
    const state = await querySubscriptionState(sys.temporal, site.id);
    expect(state.status).toBe('active');
    expect(state.term).toEqual({
      id: result.term.id,
      startsAt: new Date(result.term.startsAtMs).toISOString(),
      endsAt: new Date(result.term.endsAtMs).toISOString(),
      usersLimit: result.term.usersLimit,
      iqsLimit: result.term.iqsLimit,
    });
    expect(state.remindersSent).toEqual([28, 7]);

    await env.sleep(6 * DAY);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder28',
      'subscription-reminder7',
      'subscription-reminder1',
    ]);
    await env.sleep(DAY);
    await expectSiteMail(sys, site.name, [
      'redemption-receipt',
      'subscription-reminder28',
      'subscription-reminder7',
      'subscription-reminder1',
      'subscription-expired',
    ]);

    // Every run's history replays against the current workflow code without nondeterminism.
    const current = await sys.temporal.workflow.getHandle(workflowId).describe();
    const runIds = [firstRunId, current.runId];
    expect(new Set(runIds).size).toBe(2);
    for (const runId of runIds) {
      const history = await sys.temporal.workflow.getHandle(workflowId, runId).fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history);
    }
  });
});
