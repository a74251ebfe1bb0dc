import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockSite } from '../../db/queries/subscriptions';
import { addMember, voucher } from '../support/fixtures';
import { untilAnsweredOrWaiting } from '../support/lock-waits';
import { activeSite, expectProblem, subscribedIq } from '../support/people';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * N7 for who may change a site: the API decides the caller's role (and the site's subscription, V7)
 * when the request comes, and every change decides them again under the site's lock
 * (operations/site-lock.ts lockSiteAs). Each test holds the site's lock while an admin's (or the
 * owner's) request waits for it, and in that transaction takes their role away (removed, demoted to
 * user, ownership transferred) or ends the subscription, as a removal, a change, a transfer or an
 * expiry commits it: the request is refused as it would have been had it come after, and changes
 * nothing (no event, no row). Before, it went through with the role it no longer held.
 */
let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

/** An active site with its owner, an admin, a user holding a remote access and a PIN, and a subscribed IQ. */
async function siteWithAdmin() {
  const { owner, site } = await activeSite(sys);
  const admin = await sys.signIn();
  await addMember(sys, site.id, admin.id, { role: 'admin' });
  const user = await sys.signIn();
  await addMember(sys, site.id, user.id);
  const iq = await subscribedIq(sys, site.id);
  const pin = await sys.request('POST', `/sites/${site.id}/people/${user.id}/access`, {
    token: owner.token,
    body: { kind: 'pin', iqId: iq.id },
  });
  expect(pin.status).toBe(201);
  const [access] = await sys.sql`select id from access_methods
    where site_id = ${site.id} and profile_id = ${user.id} and kind = 'remote'`;
  const invited = await sys.request('POST', `/sites/${site.id}/people`, {
    token: owner.token,
    body: { email: `${randomUUID()}@example.test`, role: 'user' },
  });
  expect(invited.status).toBe(201);
  const { invitationId } = (await invited.json()) as { invitationId: string };
  const { code } = await voucher(sys);
  return { owner, admin, user, site, iq, accessId: access!.id as string, invitationId, code };
}

type Fixture = Awaited<ReturnType<typeof siteWithAdmin>>;

/** The admin's requests that change the site, each as the API takes it. */
const CHANGES: Array<[string, (f: Fixture) => [string, string, unknown?]]> = [
  [
    'invite a person',
    (f) => ['POST', `/sites/${f.site.id}/people`, { email: `${randomUUID()}@example.test`, role: 'user' }],
  ],
  ['withdraw an invitation', (f) => ['DELETE', `/sites/${f.site.id}/invitations/${f.invitationId}`]],
  [
    'take a member’s slot',
    (f) => ['PATCH', `/sites/${f.site.id}/people/${f.user.id}`, { subscribed: false }],
  ],
  ['remove a member', (f) => ['DELETE', `/sites/${f.site.id}/people/${f.user.id}`]],
  [
    'grant an access',
    (f) => ['POST', `/sites/${f.site.id}/people/${f.user.id}/access`, { kind: 'mobile_key' }],
  ],
  ['revoke an access', (f) => ['DELETE', `/sites/${f.site.id}/people/${f.user.id}/access/${f.accessId}`]],
  ['reset a PIN', (f) => ['POST', `/sites/${f.site.id}/people/${f.user.id}/pin-reset`, { iqId: f.iq.id }]],
  [
    'register an IQ',
    (f) => ['POST', `/sites/${f.site.id}/iqs`, { serial: `IQ-${randomUUID()}`, model: 'IQ2' }],
  ],
  ['take an IQ’s slot', (f) => ['PATCH', `/sites/${f.site.id}/iqs/${f.iq.id}`, { subscribed: false }]],
  ['add a lock', (f) => ['POST', `/sites/${f.site.id}/locks`, { iqId: f.iq.id, name: 'Back door' }]],
  ['redeem a voucher', (f) => ['POST', `/sites/${f.site.id}/subscription/redemptions`, { code: f.code }]],
];

/** What a change would leave behind: the site's events, people, access methods, IQs, locks and invitations. */
async function siteState(siteId: string) {
  const [row] = await sys.sql`select
    (select count(*) from events where site_id = ${siteId})::int as events,
    (select json_agg(m order by profile_id) from (select profile_id, role, subscribed from memberships where site_id = ${siteId}) m) as people,
    (select json_agg(a order by id) from (select id, status from access_methods where site_id = ${siteId}) a) as access,
    (select json_agg(i order by id) from (select id, subscribed, name from iqs where site_id = ${siteId}) i) as iqs,
    (select count(*) from locks where site_id = ${siteId})::int as locks,
    (select count(*) from subscription_terms where site_id = ${siteId})::int as terms,
    (select count(*) from site_invitations where site_id = ${siteId})::int as invitations`;
  return row;
}

/**
 * Sends the change (the admin's, or with `token` another's) while a transaction holds the site's
 * lock; once the request waits for it, runs `meanwhile` in that transaction and commits. The change's
 * answer.
 */
async function whileHeld(
  f: Fixture,
  change: [string, string, unknown?],
  meanwhile: string | string[],
  token = f.admin.token,
) {
  const [method, path, body] = change;
  let answer: Promise<Response> | undefined;
  await sys.db.transaction(async (tx) => {
    await lockSite(tx, f.site.id);
    answer = sys.request(method, path, { token, ...(body ? { body } : {}) });
    await untilAnsweredOrWaiting(sys.sql, answer);
    for (const statement of [meanwhile].flat()) await tx.execute(sql.raw(statement));
  });
  return answer!;
}

describe('a change decides the caller’s role and the subscription again under the site’s lock', () => {
  it.each(CHANGES)(
    'an admin removed while their “%s” waited: 404, nothing changed',
    async (_name, change) => {
      const f = await siteWithAdmin();
      const removal = `delete from memberships where site_id = '${f.site.id}' and profile_id = '${f.admin.id}'`;
      const before = await siteState(f.site.id);
      const answer = await whileHeld(f, change(f), removal);
      await expectProblem(answer, 404, 'not_found');
      expect(await siteState(f.site.id)).toEqual({
        ...before,
        people: (before!.people as Array<{ profile_id: string }>).filter((p) => p.profile_id !== f.admin.id),
      });
    },
  );

  it.each(CHANGES)(
    'an admin made a user while their “%s” waited: 403, nothing changed',
    async (_name, change) => {
      const f = await siteWithAdmin();
      const demotion = `update memberships set role = 'user' where site_id = '${f.site.id}' and profile_id = '${f.admin.id}'`;
      const before = await siteState(f.site.id);
      const answer = await whileHeld(f, change(f), demotion);
      await expectProblem(answer, 403, 'forbidden');
      const after = await siteState(f.site.id);
      expect({ ...after, people: undefined }).toEqual({ ...before, people: undefined });
    },
  );

  it('a subscription that ended while a grant waited: 403 no_valid_subscription, nothing granted', async () => {
    const f = await siteWithAdmin();
    const before = await siteState(f.site.id);
    const answer = await whileHeld(
      f,
      ['POST', `/sites/${f.site.id}/people/${f.user.id}/access`, { kind: 'mobile_key' }],
      `update sites set subscription_status = 'expired' where id = '${f.site.id}'`,
    );
    await expectProblem(answer, 403, 'no_valid_subscription');
    expect(await siteState(f.site.id)).toEqual(before);
  });

  it('an owner whose ownership was transferred while their notification choice waited: 403, the choice unchanged', async () => {
    const f = await siteWithAdmin();
    const [{ notify_event_types: chosen } = {}] =
      await sys.sql`select notify_event_types from sites where id = ${f.site.id}`;
    const before = await siteState(f.site.id);
    // As a transfer commits it: the owner made admin first (one owner at any moment), then the admin owner.
    const transfer = [
      `update memberships set role = 'admin', master_key = false where site_id = '${f.site.id}' and profile_id = '${f.owner.id}'`,
      `update memberships set role = 'owner', master_key = true where site_id = '${f.site.id}' and profile_id = '${f.admin.id}'`,
    ];
    const answer = await whileHeld(
      f,
      ['PUT', `/sites/${f.site.id}/notifications`, { eventTypes: ['tamper'] }],
      transfer,
      f.owner.token,
    );
    await expectProblem(answer, 403, 'forbidden');
    const [after] = await sys.sql`select notify_event_types from sites where id = ${f.site.id}`;
    expect(after?.notify_event_types).toEqual(chosen);
    expect((await siteState(f.site.id))?.events).toBe(before?.events);
    // The new owner chooses.
    const theirs = await sys.request('PUT', `/sites/${f.site.id}/notifications`, {
      token: f.admin.token,
      body: { eventTypes: ['tamper'] },
    });
    expect(theirs.status).toBe(200);
  });

  it('with the role kept, the same change waits for the lock and goes through', async () => {
    const f = await siteWithAdmin();
    const answer = await whileHeld(
      f,
      ['POST', `/sites/${f.site.id}/people/${f.user.id}/access`, { kind: 'mobile_key' }],
      `update memberships set role = 'admin' where site_id = '${f.site.id}' and profile_id = '${f.admin.id}'`,
    );
    expect(answer.status).toBe(201);
  });
});
