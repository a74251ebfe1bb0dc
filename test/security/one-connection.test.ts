/**
 * No transaction waits on a connection of its own pool. A change that holds a site's lock and then
 * asks the pool for another connection (an email's record written outside the change) waits forever
 * once the pool's other connections are queued behind statements waiting for that lock: a burst of
 * invitations, withdrawals and acceptances did so on a pool of 4 (issue 15's DATABASE_POOL_SIZE).
 * With one connection for the API (its relays included), any such change hangs at once; here each
 * email-sending change answers, and its email is recorded once.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iqs } from '../../db/schema';
import { addIq } from '../support/fixtures';
import {
  expectAnswer,
  invite,
  member,
  ownedActiveSite,
  type PeopleSecurity,
  startPeopleSecurity,
} from './people-harness';

let t: PeopleSecurity;

beforeAll(async () => {
  t = await startPeopleSecurity({ appPoolSize: 1 });
});
afterAll(async () => {
  await t?.close();
});

const mailTo = async (email: string, template: string) =>
  (await t.sys.mailbox()).filter((m) => m.to === email && m.template === template);

describe('email-sending changes on a pool of one connection', () => {
  it('an invitation, a site for an owner, a PIN reset and a transfer each answer and email once', async () => {
    const owner = await t.sys.signIn();
    const siteId = await ownedActiveSite(t, owner);

    const invited = `one-connection-${randomUUID()}@ks.test`;
    await invite(t, owner.token, siteId, invited);
    expect(await mailTo(invited, 'invitation')).toHaveLength(1);

    const installer = await t.sys.signIn({ platformRole: 'installer' });
    const ownerEmail = `one-connection-owner-${randomUUID()}@ks.test`;
    expectAnswer(
      await t.http('POST', '/sites', { token: installer.token, body: { name: 'For an owner', ownerEmail } }),
      201,
    );
    expect(await mailTo(ownerEmail, 'invitation')).toHaveLength(1);

    const admin = await member(t, owner.token, siteId, 'admin');
    const { iq } = await addIq(t.sys, siteId);
    await t.sys.db.update(iqs).set({ subscribed: true, subscribedAt: new Date() }).where(eq(iqs.id, iq.id));
    expectAnswer(
      await t.http('POST', `/sites/${siteId}/people/${admin.id}/access`, {
        token: owner.token,
        body: { kind: 'pin', iqId: iq.id },
      }),
      201,
    );
    const pin = expectAnswer(
      await t.http('POST', `/sites/${siteId}/people/${admin.id}/pin-reset`, {
        token: owner.token,
        body: { iqId: iq.id },
      }),
      200,
    );
    expect(pin.body.pin).toEqual(expect.any(String));
    expect(await mailTo(admin.email, 'pin-reset')).toHaveLength(1);

    expectAnswer(
      await t.http('POST', `/sites/${siteId}/ownership`, {
        token: owner.token,
        body: { profileId: admin.id },
      }),
      200,
    );
    expect(await mailTo(admin.email, 'ownership-transferred')).toHaveLength(1);
    expect(await mailTo(owner.email, 'ownership-transferred')).toHaveLength(1);
  });

  it('the relay sends a sign-up’s email and a reset’s', async () => {
    const email = `one-connection-signup-${randomUUID()}@ks.test`;
    expectAnswer(
      await t.http('POST', '/auth/signup', {
        body: { email, password: 'a long enough password', name: 'One' },
      }),
      202,
    );
    await t.sys.accountMail.handOver();
    expect(await mailTo(email, 'confirm-email')).toHaveLength(1);
    const registered = await t.sys.signIn();
    expectAnswer(await t.http('POST', '/auth/password-reset', { body: { email: registered.email } }), 202);
    await t.sys.accountMail.handOver();
    expect(await mailTo(registered.email, 'password-reset')).toHaveLength(1);
  });
});
