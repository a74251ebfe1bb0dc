/**
 * V5 as reminders go out: none for a term a redemption replaced (the workflow hears of a term the API
 * claimed only once the relay has told it), and one, truthful, when the site's time passed several
 * reminder moments at once. Before, a sandbox clock moved 58 days into a 60-day term sent the 28-day
 * and the 7-day reminders together ("ends in 28 days", "ends in 7 days"), two days before the end;
 * and the replaced term's 28-day reminder went out with its end date.
 */
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createSubscriptionActivities } from '../../activities/subscription';
import { createMailer } from '../../emails/mailer';
import { noopGatewayClient } from '../../gateway/client';
import { redeemVoucher } from '../../operations/subscription';
import { querySubscriptionState } from '../../workflows/client/subscription';
import { createSite, DAY, voucher } from '../support/fixtures';
import { startTestSystem, type TestSystem } from '../support/system';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

const reminders = async (siteName: string) =>
  (await sys.mailbox()).filter((m) => m.template === 'subscription-reminder' && m.subject.includes(siteName));

it('a clock moved past two reminder moments sends the later one, with the days truly left', async () => {
  const owner = await sys.signIn();
  const support = await sys.signIn({ platformRole: 'support' });
  const site = await createSite(sys, owner.id, { sandbox: true });
  const redeemed = await sys.request('POST', `/sites/${site.id}/subscription/redemptions`, {
    token: owner.token,
    body: { code: (await voucher(sys, { durationDays: 60 })).code },
  });
  expect(redeemed.status).toBe(200);
  const { term } = (await redeemed.json()) as { term: { endsAt: string } };
  const held = await vi.waitFor(
    async () => {
      const state = await querySubscriptionState(sys.temporal, site.id);
      expect(state.term?.endsAt).toBe(term.endsAt);
      return state.term!;
    },
    { timeout: 15_000 },
  );

  const moved = await sys.request('POST', `/support/sites/${site.id}/clock`, {
    token: support.token,
    body: { advanceSeconds: 58 * 86_400 },
  });
  expect(moved.status).toBe(200);
  // Both moments passed: the workflow asks for each in turn, and only the 7-day one is sent.
  await vi.waitFor(
    async () => expect((await querySubscriptionState(sys.temporal, site.id)).remindersSent).toEqual([28, 7]),
    { timeout: 15_000 },
  );
  const sent = await reminders(site.name);
  expect(sent.map((m) => m.idempotencyKey)).toEqual([`reminder:${held.id}:7d`]);
  expect(sent[0]!.subject).toBe(`[Sandbox] ${site.name}: subscription ends in 2 days`);
});

it('a replaced term’s reminder is not sent; the current term’s is', async () => {
  const owner = await sys.signIn();
  const site = await createSite(sys, owner.id);
  const activities = createSubscriptionActivities({
    db: sys.db,
    mailer: createMailer({ db: sys.db, from: 'test@ks.test' }),
    gateway: noopGatewayClient,
  });
  const claim = async (durationDays: number) => {
    const outcome = await redeemVoucher(sys.db, {
      siteId: site.id,
      codeHash: (await voucher(sys, { durationDays })).codeHash,
      requestId: randomUUID(),
      actorProfileId: owner.id,
    });
    if (!outcome.ok) throw new Error(outcome.code);
    return outcome.term;
  };
  const replaced = await claim(60);
  const current = await claim(365);

  // As a worker runs it: the workflow still holding the replaced term asks at its 28-day moment.
  const remind = (t: { id: string; endsAtMs: number }) =>
    new MockActivityEnvironment().run(activities.sendReminder, {
      siteId: site.id,
      termId: t.id,
      offsetDays: 28 as const,
      nowMs: t.endsAtMs - 28 * DAY + 1_000,
    });
  expect(await remind(replaced)).toEqual({ sent: false });
  expect(await reminders(site.name)).toEqual([]);

  expect(await remind(current)).toEqual({ sent: true });
  expect((await reminders(site.name)).map((m) => m.subject)).toEqual([
    `${site.name}: subscription ends in 28 days`,
  ]);
});
