import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokePlatformRole } from '../../operations/platform-roles';
import {
  expectAnswer,
  member,
  newEmail,
  ownedActiveSite,
  type PeopleSecurity,
  type Person,
  startPeopleSecurity,
} from './people-harness';

/**
 * Class "an old token keeps old rights" (A5, S3, S4, S6): a session opened before the caller's role
 * changed acts with the new role on its very next request, on read paths (those whose statement
 * goes on the API's sign-in connection, with the session, and the others) and write paths alike.
 * Each token is used on every path first, so whatever a connection or the process keeps of those
 * statements is warm when the role changes.
 */

let t: PeopleSecurity;

beforeAll(async () => {
  t = await startPeopleSecurity();
});
afterAll(async () => {
  await t?.close();
});

/** Status and code of each request, keyed by its name. */
async function answersOf(
  person: Person,
  requests: Record<string, { method: string; path: string; body?: unknown }>,
) {
  const answers: Record<string, string> = {};
  for (const [name, r] of Object.entries(requests)) {
    const answer = await t.http(r.method, r.path, { token: person.token, body: r.body });
    answers[name] = `${answer.status} ${answer.body.code ?? ''}`.trim();
  }
  return answers;
}

/** A manager's reads and harmless writes at the site (a write that succeeds changes nothing that matters here). */
const managerRequests = (siteId: string, subjectId: string) => ({
  people: { method: 'GET', path: `/sites/${siteId}/people` },
  events: { method: 'GET', path: `/sites/${siteId}/events` },
  subscription: { method: 'GET', path: `/sites/${siteId}/subscription` },
  iqs: { method: 'GET', path: `/sites/${siteId}/iqs` },
  invite: { method: 'POST', path: `/sites/${siteId}/people`, body: { email: newEmail('x'), role: 'user' } },
  role: { method: 'PATCH', path: `/sites/${siteId}/people/${subjectId}`, body: { role: 'user' } },
  grant: { method: 'POST', path: `/sites/${siteId}/people/${subjectId}/access`, body: { kind: 'remote' } },
});

describe('a session opened before the change, its next request', () => {
  it('an admin demoted to user: every manager’s read and write answers 403, the site reads as a user’s', async () => {
    const owner = await t.sys.signIn();
    const siteId = await ownedActiveSite(t, owner);
    const admin = await member(t, owner.token, siteId, 'admin');
    const subject = await member(t, owner.token, siteId, 'user');
    const before = await answersOf(admin, managerRequests(siteId, subject.id));
    expect(
      Object.values(before).every((a) => /^2\d\d$/.test(a)),
      JSON.stringify(before),
    ).toBe(true);

    expectAnswer(
      await t.http('PATCH', `/sites/${siteId}/people/${admin.id}`, {
        token: owner.token,
        body: { role: 'user' },
      }),
      200,
    );
    const after = await answersOf(admin, managerRequests(siteId, subject.id));
    expect(after).toEqual(Object.fromEntries(Object.keys(after).map((k) => [k, '403 forbidden'])));
    const site = expectAnswer(await t.http('GET', `/sites/${siteId}`, { token: admin.token }), 200);
    expect(site.body.role).toBe('user');
  });

  it('an owner who transferred the site: the owner’s own paths answer 403, an admin’s still work', async () => {
    const owner = await t.sys.signIn();
    const siteId = await ownedActiveSite(t, owner);
    const admin = await member(t, owner.token, siteId, 'admin');
    const user = await member(t, owner.token, siteId, 'user');
    const ownerOnly = {
      notifications: {
        method: 'PUT',
        path: `/sites/${siteId}/notifications`,
        body: { eventTypes: ['tamper'] },
      },
      masterKey: { method: 'PATCH', path: `/sites/${siteId}/people/${user.id}`, body: { masterKey: false } },
    };
    const before = await answersOf(owner, ownerOnly);
    expect(
      Object.values(before).every((a) => a === '200'),
      JSON.stringify(before),
    ).toBe(true);

    expectAnswer(
      await t.http('POST', `/sites/${siteId}/ownership`, {
        token: owner.token,
        body: { profileId: admin.id },
      }),
      200,
    );
    expect(await answersOf(owner, ownerOnly)).toEqual({
      notifications: '403 forbidden',
      masterKey: '403 forbidden',
    });
    // Handing it over again is the new owner's: the former owner's token is refused.
    expectAnswer(
      await t.http('POST', `/sites/${siteId}/ownership`, {
        token: owner.token,
        body: { profileId: admin.id },
      }),
      403,
      'forbidden',
    );
    const asAdmin = await answersOf(owner, managerRequests(siteId, user.id));
    expect(
      Object.values(asAdmin).every((a) => /^2\d\d$/.test(a)),
      JSON.stringify(asAdmin),
    ).toBe(true);
    const site = expectAnswer(await t.http('GET', `/sites/${siteId}`, { token: owner.token }), 200);
    expect(site.body.role).toBe('admin');
  });

  it('platform support whose role was revoked: support’s reads and writes answer 403', async () => {
    const support = await t.sys.signIn({ platformRole: 'support' });
    const owner = await t.sys.signIn();
    const siteId = await ownedActiveSite(t, owner);
    const requests = {
      history: { method: 'GET', path: `/support/sites/${siteId}/subscription-history` },
      rollouts: { method: 'GET', path: '/support/rollouts' },
      vouchers: {
        method: 'POST',
        path: '/support/vouchers',
        body: { usersLimit: 1, iqsLimit: 1, durationDays: 1, count: 1 },
      },
    };
    const before = await answersOf(support, requests);
    expect(
      Object.values(before).every((a) => /^2\d\d$/.test(a)),
      JSON.stringify(before),
    ).toBe(true);

    expect(await revokePlatformRole(t.sys.db, support.email)).toMatchObject({ previous: 'support' });
    expect(await answersOf(support, requests)).toEqual({
      history: '403 forbidden',
      rollouts: '403 forbidden',
      vouchers: '403 forbidden',
    });
    const me = expectAnswer(await t.http('GET', '/me', { token: support.token }), 200);
    expect(me.body.platformRole).toBeNull();
  });
});
