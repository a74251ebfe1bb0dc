import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessMethods, memberships, profiles, sites } from '../../db/schema';
import { addMember, createSite, giveAccess } from '../support/fixtures';
import { activate, activeSite, expectProblem, form, json, linkIn, subscribedIq } from '../support/people';
import { startTestSystem, type TestSystem } from '../support/system';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

interface SiteBody {
  id: string;
  name: string;
  status: string;
  timezone: string;
  role: string;
}
interface PersonBody {
  profileId: string;
  role: string;
  subscribed: boolean;
  masterKey: boolean;
  access: Array<{ id: string; kind: string; status: string }>;
}

const newEmail = () => `p-${randomUUID()}@example.test`;
const mailsTo = async (email: string) => (await sys.mailbox()).filter((m) => m.to === email.toLowerCase());
const membership = async (siteId: string, profileId: string) =>
  (
    await sys.db
      .select()
      .from(memberships)
      .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, profileId)))
  )[0];
const methodsOf = (siteId: string, profileId: string) =>
  sys.db
    .select()
    .from(accessMethods)
    .where(and(eq(accessMethods.siteId, siteId), eq(accessMethods.profileId, profileId)));

const people = (token: string, siteId: string) => sys.request('GET', `/sites/${siteId}/people`, { token });
const addPerson = (token: string, siteId: string, email: string, role: 'admin' | 'user' = 'user') =>
  sys.request('POST', `/sites/${siteId}/people`, { token, body: { email, role } });
const patch = (token: string, siteId: string, profileId: string, body: unknown) =>
  sys.request('PATCH', `/sites/${siteId}/people/${profileId}`, { token, body });
const grant = (token: string, siteId: string, profileId: string, body: unknown) =>
  sys.request('POST', `/sites/${siteId}/people/${profileId}/access`, { token, body });

describe('sites', () => {
  it('any profile creates an active site it owns; the timezone is checked and defaults to UTC', async () => {
    const me = await sys.signIn();
    const res = await sys.request('POST', '/sites', { token: me.token, body: { name: 'Home' } });
    expect(res.status).toBe(201);
    const site = await json<SiteBody>(res);
    expect(site).toMatchObject({ name: 'Home', status: 'active', timezone: 'UTC', role: 'owner' });
    expect(await membership(site.id, me.id)).toMatchObject({ role: 'owner', masterKey: true });

    const zoned = await sys.request('POST', '/sites', {
      token: me.token,
      body: { name: 'Office', timezone: 'Europe/Berlin', ownerEmail: me.email.toUpperCase() },
    });
    expect(((await json<SiteBody>(zoned)) as SiteBody).timezone).toBe('Europe/Berlin');
    // Kept as Intl spells the zone, whatever case it was typed in.
    for (const [typed, kept] of [
      ['europe/berlin', 'Europe/Berlin'],
      ['utc', 'UTC'],
      ['AMERICA/NEW_YORK', 'America/New_York'],
    ]) {
      const res = await sys.request('POST', '/sites', {
        token: me.token,
        body: { name: 'Zone', timezone: typed },
      });
      expect(res.status).toBe(201);
      const zone = (await json<SiteBody>(res)).timezone;
      expect(zone).toBe(kept);
    }

    const badZone = await sys.request('POST', '/sites', {
      token: me.token,
      body: { name: 'X', timezone: 'Mars/Olympus' },
    });
    expect((await expectProblem(badZone, 400, 'validation_failed')).errors?.[0]?.path).toBe('body.timezone');
    const forOther = await sys.request('POST', '/sites', {
      token: me.token,
      body: { name: 'X', ownerEmail: newEmail() },
    });
    await expectProblem(forOther, 422, 'owner_email_not_allowed');

    const list = await json<SiteBody[]>(await sys.request('GET', '/sites', { token: me.token }));
    expect(list.map((s) => s.name).sort()).toEqual(['Home', 'Office', 'Zone', 'Zone', 'Zone']);
    const one = await sys.request('GET', `/sites/${site.id}`, { token: me.token });
    expect(await json<SiteBody>(one)).toMatchObject({ id: site.id, role: 'owner' });
    // Another profile sees neither the site nor that it exists.
    const stranger = await sys.signIn();
    await expectProblem(
      await sys.request('GET', `/sites/${site.id}`, { token: stranger.token }),
      404,
      'not_found',
    );
  });

  it('an installer creates a site for an existing owner, who joins by accepting; release ends the installer’s access', async () => {
    const installer = await sys.signIn({ platformRole: 'installer' });
    const owner = await sys.signIn();
    const missing = await sys.request('POST', '/sites', { token: installer.token, body: { name: 'Shop' } });
    expect((await expectProblem(missing, 400, 'validation_failed')).errors?.[0]?.path).toBe(
      'body.ownerEmail',
    );
    const forSelf = await sys.request('POST', '/sites', {
      token: installer.token,
      body: { name: 'Shop', ownerEmail: installer.email.toUpperCase() },
    });
    expect((await expectProblem(forSelf, 422, 'owner_email_not_allowed')).errors?.[0]?.path).toBe(
      'body.ownerEmail',
    );

    const res = await sys.request('POST', '/sites', {
      token: installer.token,
      body: { name: 'Shop', ownerEmail: owner.email },
    });
    expect(res.status).toBe(201);
    const site = await json<SiteBody>(res);
    expect(site).toMatchObject({ status: 'installing', role: 'installer' });
    // S7: an existing profile is invited like anyone else; it owns nothing until it accepts.
    expect(await membership(site.id, owner.id)).toBeUndefined();
    expect(await membership(site.id, installer.id)).toBeUndefined();
    expect((await mailsTo(owner.email)).map((m) => m.template)).toEqual(['invitation']);
    await expectProblem(
      await sys.request('GET', `/sites/${site.id}`, { token: owner.token }),
      404,
      'not_found',
    );
    const mine = await json<SiteBody[]>(await sys.request('GET', '/sites', { token: installer.token }));
    expect(mine.map((s) => s.id)).toEqual([site.id]);
    await expectProblem(
      await sys.request('POST', `/sites/${site.id}/release`, { token: installer.token }),
      409,
      'owner_not_joined',
    );

    // The page offers a plain Accept to a profile (no name or password); accepting makes the owner.
    const link = await linkIn(sys, owner.email, '/invitations/');
    const shown = await (await sys.request('GET', link)).text();
    expect(shown).not.toContain('name="password"');
    expect(shown).toContain('its owner');
    const accepted = await sys.request('POST', link, form({}));
    expect(accepted.status).toBe(200);
    expect(await membership(site.id, owner.id)).toMatchObject({ role: 'owner', masterKey: true });

    // Only the installer releases.
    await expectProblem(
      await sys.request('POST', `/sites/${site.id}/release`, { token: owner.token }),
      403,
      'forbidden',
    );
    const released = await sys.request('POST', `/sites/${site.id}/release`, { token: installer.token });
    expect(released.status).toBe(200);
    expect(await json<SiteBody>(released)).toMatchObject({ status: 'active' });
    // S1: afterwards the site is not found for the installer, a second release included.
    await expectProblem(
      await sys.request('POST', `/sites/${site.id}/release`, { token: installer.token }),
      404,
      'not_found',
    );
    await expectProblem(
      await sys.request('GET', `/sites/${site.id}`, { token: installer.token }),
      404,
      'not_found',
    );
    await expectProblem(await people(installer.token, site.id), 404, 'not_found');
    expect(await json(await sys.request('GET', '/sites', { token: installer.token }))).toEqual([]);
    expect((await sys.request('GET', `/sites/${site.id}`, { token: owner.token })).status).toBe(200);
  });

  it('an unknown owner email is invited; the link creates the owner, works once and only then may the site be released', async () => {
    const installer = await sys.signIn({ platformRole: 'installer' });
    const email = newEmail();
    const res = await sys.request('POST', '/sites', {
      token: installer.token,
      body: { name: `Depot ${randomUUID().slice(0, 6)}`, ownerEmail: email },
    });
    expect(res.status).toBe(201);
    const site = await json<SiteBody>(res);
    expect((await mailsTo(email)).map((m) => m.template)).toEqual(['invitation']);
    await expectProblem(
      await sys.request('POST', `/sites/${site.id}/release`, { token: installer.token }),
      409,
      'owner_not_joined',
    );

    const link = await linkIn(sys, email, '/invitations/');
    const shown = await sys.request('GET', link);
    expect(shown.status).toBe(200);
    expect(shown.headers.get('referrer-policy')).toBe('no-referrer');
    const pageText = await shown.text();
    expect(pageText).toContain('<form method="post">');
    expect(pageText).toContain(site.name);
    expect(await sys.db.select().from(profiles).where(eq(profiles.email, email))).toEqual([]);

    const weak = await sys.request('POST', link, form({ name: 'Olga', password: 'short' }));
    expect(weak.status).toBe(400);
    expect(await weak.text()).toContain('password');

    const accepted = await sys.request(
      'POST',
      link,
      form({ name: 'Olga', password: 'a long enough password' }),
    );
    expect(accepted.status).toBe(200);
    expect(accepted.headers.get('content-type')).toMatch(/^text\/html/);
    const login = await sys.request('POST', '/auth/login', {
      body: { email, password: 'a long enough password' },
    });
    expect(login.status).toBe(200);
    const { token, profile } = await json<{ token: string; profile: { id: string; name: string } }>(login);
    expect(profile.name).toBe('Olga');
    expect(await membership(site.id, profile.id)).toMatchObject({ role: 'owner', masterKey: true });

    expect(
      (await sys.request('POST', link, form({ name: 'Eve', password: 'another long password' }))).status,
    ).toBe(410);
    expect((await sys.request('GET', link)).status).toBe(410);
    expect((await sys.request('GET', '/invitations/not-a-token')).status).toBe(410);

    expect((await sys.request('POST', `/sites/${site.id}/release`, { token: installer.token })).status).toBe(
      200,
    );
    expect((await sys.request('GET', `/sites/${site.id}`, { token })).status).toBe(200);
  });

  it('transfers ownership only to an admin; roles and the master key swap and both are emailed', async () => {
    const { owner, site } = await activeSite(sys);
    const admin = await sys.signIn();
    const user = await sys.signIn();
    await addMember(sys, site.id, admin.id, { role: 'admin' });
    await addMember(sys, site.id, user.id, { role: 'user' });
    const transfer = (token: string, profileId: string) =>
      sys.request('POST', `/sites/${site.id}/ownership`, { token, body: { profileId } });

    await expectProblem(await transfer(owner.token, user.id), 422, 'not_an_admin');
    await expectProblem(await transfer(owner.token, randomUUID()), 422, 'not_an_admin');
    await expectProblem(await transfer(admin.token, admin.id), 403, 'forbidden');
    expect((await sys.mailbox()).filter((m) => m.template === 'ownership-transferred')).toEqual([]);

    const res = await transfer(owner.token, admin.id);
    expect(res.status).toBe(200);
    expect(await membership(site.id, admin.id)).toMatchObject({ role: 'owner', masterKey: true });
    expect(await membership(site.id, owner.id)).toMatchObject({ role: 'admin', masterKey: false });
    expect((await mailsTo(owner.email)).map((m) => m.template)).toContain('ownership-transferred');
    expect((await mailsTo(admin.email)).map((m) => m.template)).toContain('ownership-transferred');
    // The former owner is an admin now and cannot transfer again.
    await expectProblem(await transfer(owner.token, owner.id), 403, 'forbidden');
  });

  it('transfers sent at once to several admins: one is made, the rest 403, one owner (generated orders)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 5 }),
        fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 5, maxLength: 5 }),
        async (count, delays) => {
          const { owner, site } = await activeSite(sys);
          const admins = await Promise.all(Array.from({ length: count }, () => sys.signIn()));
          for (const a of admins) await addMember(sys, site.id, a.id, { role: 'admin' });
          const answers = await Promise.all(
            admins.map(async (a, i) => {
              await new Promise((r) => setTimeout(r, delays[i] ?? 0));
              const res = await sys.request('POST', `/sites/${site.id}/ownership`, {
                token: owner.token,
                body: { profileId: a.id },
              });
              return {
                profileId: a.id,
                status: res.status,
                code: res.ok ? undefined : (await json<{ code: string }>(res)).code,
              };
            }),
          );
          const made = answers.filter((a) => a.status === 200);
          expect(made).toHaveLength(1);
          expect(answers.filter((a) => a.status !== 200).map((a) => a.code)).toEqual(
            Array(count - 1).fill('forbidden'),
          );
          const owners = await sys.db
            .select()
            .from(memberships)
            .where(and(eq(memberships.siteId, site.id), eq(memberships.role, 'owner')));
          expect(owners.map((m) => m.profileId)).toEqual([made[0]!.profileId]);
          expect(await membership(site.id, owner.id)).toMatchObject({ role: 'admin', masterKey: false });
        },
      ),
      { numRuns: 8 },
    );
  });
});

describe('people', () => {
  it('S7: adding by email always invites; the person is listed as invited and joins only by accepting', async () => {
    const { owner, site } = await activeSite(sys);
    const known = await sys.signIn();
    const added = await addPerson(owner.token, site.id, known.email.toUpperCase(), 'admin');
    expect(added.status).toBe(201);
    const invitation = await json<{ invitationId: string; expiresAt: string }>(added);
    expect(invitation).toEqual({
      status: 'invited',
      invitationId: expect.any(String),
      email: known.email,
      role: 'admin',
      expiresAt: expect.any(String),
    });
    const days = (Date.parse(invitation.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(13.99);
    expect(days).toBeLessThanOrEqual(14);
    expect(await membership(site.id, known.id)).toBeUndefined();
    await expectProblem(await addPerson(owner.token, site.id, known.email), 409, 'already_invited');

    const email = newEmail();
    const invited = await addPerson(owner.token, site.id, email);
    expect(invited.status).toBe(201);
    expect(await json(invited)).toMatchObject({ status: 'invited', email, role: 'user' });
    expect((await mailsTo(email)).map((m) => m.template)).toEqual(['invitation']);
    await expectProblem(await addPerson(owner.token, site.id, email), 409, 'already_invited');
    const bad = await addPerson(owner.token, site.id, 'not-an-email');
    expect((await expectProblem(bad, 400, 'validation_failed')).errors?.[0]?.path).toBe('body.email');
    // An owner invitation is the installer's alone (A2).
    await expectProblem(
      await addPerson(owner.token, site.id, newEmail(), 'owner' as 'user'),
      403,
      'forbidden',
    );

    const listed = await json<Array<{ status: string; role: string; email: string }>>(
      await people(owner.token, site.id),
    );
    expect(listed.map((p) => [p.status, p.role])).toEqual([
      ['member', 'owner'],
      ['invited', 'admin'],
      ['invited', 'user'],
    ]);
    expect(listed[1]).toEqual({
      status: 'invited',
      invitationId: invitation.invitationId,
      email: known.email,
      role: 'admin',
      expiresAt: invitation.expiresAt,
    });

    // Both accept: the known profile with a plain form, the new email with name and password.
    expect(
      (await sys.request('POST', await linkIn(sys, known.email, '/invitations/'), form({}))).status,
    ).toBe(200);
    const link = await linkIn(sys, email, '/invitations/');
    expect(
      (await sys.request('POST', link, form({ name: 'Ivy', password: 'a long enough password' }))).status,
    ).toBe(200);
    const list = await json<PersonBody[]>(await people(owner.token, site.id));
    expect(list.map((p) => p.role)).toEqual(['owner', 'admin', 'user']);
    expect(list.every((p) => (p as unknown as { status: string }).status === 'member')).toBe(true);
    expect(list.every((p) => (!p.subscribed && p.access.length === 0) || p.role === 'owner')).toBe(true);
    await expectProblem(await addPerson(owner.token, site.id, known.email), 409, 'already_member');
  });

  it('V8: each refusal to mark a member subscribed names its reason', async () => {
    const { owner, site } = await activeSite(sys, 2);
    const admin = await sys.signIn();
    const user = await sys.signIn();
    const other = await sys.signIn();
    await addMember(sys, site.id, admin.id, { role: 'admin', access: false });
    await addMember(sys, site.id, user.id, { role: 'user', access: false });
    await addMember(sys, site.id, other.id, { role: 'user', access: false });
    const installer = await sys.signIn({ platformRole: 'installer' });
    await sys.db.update(sites).set({ installerProfileId: installer.id }).where(eq(sites.id, site.id));

    await expectProblem(await patch(user.token, site.id, other.id, { subscribed: true }), 403, 'forbidden');
    await expectProblem(
      await patch(installer.token, site.id, other.id, { subscribed: true }),
      403,
      'forbidden',
    );
    await expectProblem(
      await patch(owner.token, site.id, other.id, { subscribed: true }),
      422,
      'no_valid_access',
    );

    // Two slots: the admin and the user (given access directly, so V9 does not apply) take them.
    for (const id of [admin.id, user.id, other.id]) await giveAccess(sys, site.id, id);
    for (const id of [admin.id, user.id]) {
      const res = await patch(admin.token, site.id, id, { subscribed: true });
      expect(res.status).toBe(200);
      expect((await json<PersonBody>(res)).subscribed).toBe(true);
    }
    await expectProblem(
      await patch(owner.token, site.id, other.id, { subscribed: true }),
      409,
      'no_free_slot',
    );
    // Freeing a slot lets the third in.
    expect((await patch(owner.token, site.id, user.id, { subscribed: false })).status).toBe(200);
    expect((await patch(owner.token, site.id, other.id, { subscribed: true })).status).toBe(200);

    await sys.db.update(sites).set({ subscriptionStatus: 'expired' }).where(eq(sites.id, site.id));
    await expectProblem(
      await patch(owner.token, site.id, user.id, { subscribed: true }),
      403,
      'no_valid_subscription',
    );
  });

  it('two concurrent toggles cannot overbook the last slot', async () => {
    const { owner, site } = await activeSite(sys, 1);
    const a = await sys.signIn();
    const b = await sys.signIn();
    for (const m of [a, b]) await addMember(sys, site.id, m.id, { role: 'user' });
    const results = await Promise.all([
      patch(owner.token, site.id, a.id, { subscribed: true }),
      patch(owner.token, site.id, b.id, { subscribed: true }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
  });

  it('master key only by the owner; the owner’s role is never changed here', async () => {
    const { owner, site } = await activeSite(sys);
    const admin = await sys.signIn();
    const user = await sys.signIn();
    await addMember(sys, site.id, admin.id, { role: 'admin' });
    await addMember(sys, site.id, user.id, { role: 'user' });
    await expectProblem(await patch(admin.token, site.id, user.id, { masterKey: true }), 403, 'forbidden');
    const granted = await patch(owner.token, site.id, user.id, { masterKey: true, role: 'admin' });
    expect(await json<PersonBody>(granted)).toMatchObject({ masterKey: true, role: 'admin' });
    await expectProblem(
      await patch(admin.token, site.id, owner.id, { role: 'user' }),
      422,
      'owner_role_fixed',
    );
    await expectProblem(
      await patch(owner.token, site.id, owner.id, { masterKey: false }),
      422,
      'owner_holds_master_key',
    );
    await expectProblem(await patch(owner.token, site.id, user.id, {}), 400, 'validation_failed');
    await expectProblem(
      await patch(owner.token, site.id, user.id, { role: 'owner' }),
      400,
      'validation_failed',
    );
    await expectProblem(await patch(owner.token, site.id, randomUUID(), { role: 'user' }), 404, 'not_found');
  });

  it('V9: a first valid access method takes a free slot; without a free slot the member stays unsubscribed', async () => {
    const { owner, site } = await activeSite(sys, 1);
    const first = await json<{ subscribed: boolean }>(
      await grant(owner.token, site.id, owner.id, { kind: 'remote' }),
    );
    expect(first.subscribed).toBe(true);
    const user = await sys.signIn();
    await addMember(sys, site.id, user.id, { access: false });
    const res = await grant(owner.token, site.id, user.id, { kind: 'tag', tagUid: '04:A2:19' });
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ kind: 'tag', subscribed: false });
    expect((await membership(site.id, user.id))?.subscribed).toBe(false);
  });

  it('a tag live at the site is one person’s: granted again (any holder, any letter case, or at once) 409 tag_taken', async () => {
    const { owner, site } = await activeSite(sys);
    const user = await sys.signIn();
    await addMember(sys, site.id, user.id, { access: false });
    const first = await grant(owner.token, site.id, user.id, { kind: 'tag', tagUid: '04:a2:19:7f' });
    expect(first.status).toBe(201);
    for (const [holder, tagUid] of [
      [user.id, '04:a2:19:7f'],
      [owner.id, '04:A2:19:7F'],
    ] as const) {
      const again = await expectProblem(
        await grant(owner.token, site.id, holder, { kind: 'tag', tagUid }),
        409,
        'tag_taken',
      );
      expect(again.errors?.map((e) => e.path)).toEqual(['body.tagUid']);
    }
    // Another site may hold the same tag; after a revoke the site may take it again.
    const elsewhere = await activeSite(sys);
    expect(
      (
        await grant(elsewhere.owner.token, elsewhere.site.id, elsewhere.owner.id, {
          kind: 'tag',
          tagUid: '04:a2:19:7f',
        })
      ).status,
    ).toBe(201);
    const { id } = await json<{ id: string }>(first);
    expect(
      (
        await sys.request('DELETE', `/sites/${site.id}/people/${user.id}/access/${id}`, {
          token: owner.token,
        })
      ).status,
    ).toBe(204);
    const burst = await Promise.all(
      Array.from({ length: 8 }, () =>
        grant(owner.token, site.id, owner.id, { kind: 'tag', tagUid: '04:A2:19:7F' }),
      ),
    );
    expect(burst.map((r) => r.status).sort()).toEqual([201, ...Array(7).fill(409)]);
    const live = await sys.sql`select 1 from access_methods
      where site_id = ${site.id} and kind = 'tag' and status <> 'revoked'`;
    expect(live).toHaveLength(1);
  });

  it('a tag’s UID is held to a name’s rules: control and bidirectional characters 400, invisible edges dropped', async () => {
    const { owner, site } = await activeSite(sys);
    for (const bad of ['04:A2\n19', '04:A2\u202E91', '\u200B\u200B', '04\t19']) {
      const refused = await expectProblem(
        await grant(owner.token, site.id, owner.id, { kind: 'tag', tagUid: bad }),
        400,
        'validation_failed',
      );
      expect(refused.errors?.map((e) => e.path)).toEqual(['body.tagUid']);
    }
    expect(await sys.sql`select 1 from access_methods where site_id = ${site.id}`).toHaveLength(0);
    // A UID copied with a zero-width space around it is the same tag, not a second one.
    const first = await grant(owner.token, site.id, owner.id, {
      kind: 'tag',
      tagUid: '\u200B04:A2:19:7F\uFEFF',
    });
    expect(first.status).toBe(201);
    expect(await sys.sql`select tag_uid from access_methods where site_id = ${site.id}`).toEqual([
      { tag_uid: '04:A2:19:7F' },
    ]);
    await expectProblem(
      await grant(owner.token, site.id, owner.id, { kind: 'tag', tagUid: '04:a2:19:7f\u200B' }),
      409,
      'tag_taken',
    );
  });

  it('PINs: shown once, stored as a hash, only on subscribed IQs of the site; reset emails the member', async () => {
    const { owner, site } = await activeSite(sys);
    const user = await sys.signIn();
    await addMember(sys, site.id, user.id, { access: false });
    const iq = await subscribedIq(sys, site.id);
    const offIq = await subscribedIq(sys, site.id, false);
    const elsewhere = await activeSite(sys);
    const foreignIq = await subscribedIq(sys, elsewhere.site.id);

    const missing = await grant(owner.token, site.id, user.id, { kind: 'pin' });
    expect((await expectProblem(missing, 400, 'validation_failed')).errors?.[0]?.path).toBe('body.iqId');
    const tag = await grant(owner.token, site.id, user.id, { kind: 'tag' });
    expect((await expectProblem(tag, 400, 'validation_failed')).errors?.[0]?.path).toBe('body.tagUid');
    await expectProblem(
      await grant(owner.token, site.id, user.id, { kind: 'pin', iqId: foreignIq.id }),
      404,
      'not_found',
    );
    await expectProblem(
      await grant(owner.token, site.id, user.id, { kind: 'pin', iqId: offIq.id }),
      409,
      'iq_unsubscribed',
    );

    const res = await grant(owner.token, site.id, user.id, { kind: 'pin', iqId: iq.id });
    expect(res.status).toBe(201);
    const { id, pin, subscribed } = await json<{ id: string; pin: string; subscribed: boolean }>(res);
    expect(pin).toMatch(/^\d{6}$/);
    expect(subscribed).toBe(true);
    const [stored] = await methodsOf(site.id, user.id);
    expect(stored?.id).toBe(id);
    expect(stored?.pinHash).toBeTruthy();
    expect(stored?.pinHash).not.toContain(pin);
    await expectProblem(
      await grant(owner.token, site.id, user.id, { kind: 'pin', iqId: iq.id }),
      409,
      'pin_exists',
    );
    const listed = await json<PersonBody[]>(await people(owner.token, site.id));
    expect(JSON.stringify(listed)).not.toContain(pin);

    const reset = (iqId: string) =>
      sys.request('POST', `/sites/${site.id}/people/${user.id}/pin-reset`, {
        token: owner.token,
        body: { iqId },
      });
    await expectProblem(await reset(foreignIq.id), 404, 'not_found');
    await expectProblem(await reset(randomUUID()), 404, 'not_found');
    const again = await reset(iq.id);
    expect(again.status).toBe(200);
    const fresh = await json<{ pin: string; id: string }>(again);
    expect(fresh.pin).toMatch(/^\d{6}$/);
    const methods = await methodsOf(site.id, user.id);
    expect(methods.find((m) => m.id === id)?.status).toBe('revoked');
    expect(methods.find((m) => m.id === fresh.id)?.status).toBe('active');
    const mail = (await mailsTo(user.email)).filter((m) => m.template === 'pin-reset');
    expect(mail).toHaveLength(1);
    expect(mail[0]?.text).toContain(fresh.pin);

    // Resetting a PIN on another site's IQ through that site's own path is 404 for this owner.
    await expectProblem(
      await sys.request('POST', `/sites/${elsewhere.site.id}/people/${user.id}/pin-reset`, {
        token: owner.token,
        body: { iqId: foreignIq.id },
      }),
      404,
      'not_found',
    );
  });

  it('K3: the owner resets an IQ and every PIN on it needs activation; a PIN reset re-activates one', async () => {
    const { owner, site } = await activeSite(sys);
    const admin = await sys.signIn();
    await addMember(sys, site.id, admin.id, { role: 'admin' });
    const iq = await subscribedIq(sys, site.id);
    for (const m of [owner.id, admin.id]) {
      expect((await grant(owner.token, site.id, m, { kind: 'pin', iqId: iq.id })).status).toBe(201);
    }
    const resetIq = (token: string) => sys.request('POST', `/sites/${site.id}/iqs/${iq.id}/reset`, { token });
    await expectProblem(await resetIq(admin.token), 403, 'forbidden');
    const res = await resetIq(owner.token);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ iqId: iq.id, pinsInvalidated: 2 });
    const pins = async (id: string) => (await methodsOf(site.id, id)).filter((m) => m.kind === 'pin');
    expect((await pins(admin.id)).map((m) => m.status)).toEqual(['needs_activation']);

    const reactivated = await sys.request('POST', `/sites/${site.id}/people/${admin.id}/pin-reset`, {
      token: owner.token,
      body: { iqId: iq.id },
    });
    expect(reactivated.status).toBe(200);
    expect((await pins(admin.id)).map((m) => m.status).sort()).toEqual(['active', 'revoked']);
  });

  it('removing a member revokes their access at the site; the owner cannot be removed', async () => {
    const { owner, site } = await activeSite(sys);
    const admin = await sys.signIn();
    const user = await sys.signIn();
    await addMember(sys, site.id, admin.id, { role: 'admin' });
    await addMember(sys, site.id, user.id, { access: false });
    const granted = await json<{ id: string }>(
      await grant(admin.token, site.id, user.id, { kind: 'mobile_key' }),
    );
    expect((await grant(admin.token, site.id, user.id, { kind: 'remote' })).status).toBe(201);

    const revokeOne = await sys.request(
      'DELETE',
      `/sites/${site.id}/people/${user.id}/access/${granted.id}`,
      {
        token: admin.token,
      },
    );
    expect(revokeOne.status).toBe(204);
    await expectProblem(
      await sys.request('DELETE', `/sites/${site.id}/people/${user.id}/access/${granted.id}`, {
        token: admin.token,
      }),
      404,
      'not_found',
    );

    await expectProblem(
      await sys.request('DELETE', `/sites/${site.id}/people/${owner.id}`, { token: admin.token }),
      409,
      'owner_cannot_leave',
    );
    const removed = await sys.request('DELETE', `/sites/${site.id}/people/${user.id}`, {
      token: admin.token,
    });
    expect(removed.status).toBe(204);
    expect(await membership(site.id, user.id)).toBeUndefined();
    expect((await methodsOf(site.id, user.id)).map((m) => m.status)).toEqual(['revoked', 'revoked']);
    await expectProblem(
      await sys.request('DELETE', `/sites/${site.id}/people/${user.id}`, { token: admin.token }),
      404,
      'not_found',
    );
  });

  it('S8: only the owner gives up the owner’s slot; an admin cannot unsubscribe the owner', async () => {
    const { owner, site } = await activeSite(sys);
    const admin = await sys.signIn();
    await addMember(sys, site.id, admin.id, { role: 'admin' });
    await giveAccess(sys, site.id, owner.id);
    expect((await patch(owner.token, site.id, owner.id, { subscribed: true })).status).toBe(200);
    await expectProblem(await patch(admin.token, site.id, owner.id, { subscribed: false }), 403, 'forbidden');
    expect((await membership(site.id, owner.id))?.subscribed).toBe(true);
    // The owner may, and may take the slot back.
    const given = await patch(owner.token, site.id, owner.id, { subscribed: false });
    expect(given.status).toBe(200);
    expect((await json<PersonBody>(given)).subscribed).toBe(false);
    expect((await patch(admin.token, site.id, owner.id, { subscribed: true })).status).toBe(200);
    // An admin still toggles other members, themself included.
    expect((await patch(admin.token, site.id, admin.id, { subscribed: false })).status).toBe(200);
  });

  it('V7: IQs and locks are registered, named and read without a term only on a site that never had one; an expired site answers 403', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    const register = () =>
      sys.request('POST', `/sites/${site.id}/iqs`, {
        token: owner.token,
        body: { serial: `SN-${randomUUID()}`, model: 'IQ2' },
      });
    const first = await register();
    expect(first.status).toBe(201);
    const iq = await json<{ id: string; subscribed: boolean }>(first);
    expect(iq.subscribed).toBe(false);
    const addLock = () =>
      sys.request('POST', `/sites/${site.id}/locks`, {
        token: owner.token,
        body: { iqId: iq.id, name: 'Gate' },
      });
    expect((await addLock()).status).toBe(201);
    // The rest of installation work too: naming the IQ, and reading the site's IQs and locks.
    const rename = (name: string) =>
      sys.request('PATCH', `/sites/${site.id}/iqs/${iq.id}`, { token: owner.token, body: { name } });
    const read = (what: 'iqs' | 'locks') =>
      sys.request('GET', `/sites/${site.id}/${what}`, { token: owner.token });
    expect((await rename('Hall')).status).toBe(200);
    expect([(await read('iqs')).status, (await read('locks')).status]).toEqual([200, 200]);

    await sys.db.update(sites).set({ subscriptionStatus: 'expired' }).where(eq(sites.id, site.id));
    const countIqs = async () =>
      (await sys.sql`select count(*)::int as n from iqs where site_id = ${site.id}`)[0]!.n as number;
    const countLocks = async () =>
      (await sys.sql`select count(*)::int as n from locks where site_id = ${site.id}`)[0]!.n as number;
    await expectProblem(await register(), 403, 'no_valid_subscription');
    await expectProblem(await addLock(), 403, 'no_valid_subscription');
    await expectProblem(await rename('Renamed'), 403, 'no_valid_subscription');
    await expectProblem(await read('iqs'), 403, 'no_valid_subscription');
    await expectProblem(await read('locks'), 403, 'no_valid_subscription');
    expect([await countIqs(), await countLocks()]).toEqual([1, 1]);
    expect((await sys.sql`select name from iqs where id = ${iq.id}`)[0]?.name).toBe('Hall');
    // Redeeming is still allowed, and brings installation back.
    await activate(sys, owner.token, site.id);
    expect((await register()).status).toBe(201);
  });

  it('the invitation page says what comes next, works without JavaScript and loads nothing from elsewhere', async () => {
    const owner = await sys.signIn({ name: 'Olive Owner' });
    const site = await createSite(sys, owner.id);
    await activate(sys, owner.token, site.id);
    const email = newEmail();
    const invited = await json<{ expiresAt: string }>(await addPerson(owner.token, site.id, email, 'admin'));
    const link = await linkIn(sys, email, '/invitations/');
    const res = await sys.request('GET', link);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const page = await res.text();
    // Who invited whom, to which site, as what, what accepting means, and until when.
    for (const words of [
      'Olive Owner',
      site.name,
      email,
      'an admin',
      'What accepting means',
      'expires on its own',
    ]) {
      expect(page).toContain(words);
    }
    expect(page).toContain(`datetime="${invited.expiresAt}"`);
    // A plain form that posts back here: name and password, since this email has no account.
    expect(page).toMatch(/<form method="post">/);
    expect(page).toContain('name="name"');
    expect(page).toContain('name="password"');
    expect(page).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|action="http/i);
    expect(page).not.toMatch(/https?:\/\//);

    // Accepted by the form alone; then the link is spent and says what to do.
    const accepted = await sys.request(
      'POST',
      link,
      form({ name: 'Ada', password: 'a long enough password' }),
    );
    expect(accepted.status).toBe(200);
    expect(await accepted.text()).toContain(`You joined ${site.name}`);
    const gone = await sys.request('GET', link);
    expect(gone.status).toBe(410);
    expect(await gone.text()).toContain('ask the person who invited you to send a new invitation');
  });

  it('people endpoints answer no_valid_subscription while the site has none (V7)', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    await expectProblem(await people(owner.token, site.id), 403, 'no_valid_subscription');
    await expectProblem(await addPerson(owner.token, site.id, newEmail()), 403, 'no_valid_subscription');
  });
});

describe('the owner’s invitation on a site that never had a term (A2, V7)', () => {
  it('the installer finds it in the people list, withdraws it and invites the corrected address; the owner needs a term to list', async () => {
    const installer = await sys.signIn({ platformRole: 'installer' });
    const typo = newEmail();
    const created = await sys.request('POST', '/sites', {
      token: installer.token,
      body: { name: 'Shop', ownerEmail: typo },
    });
    const site = await json<SiteBody>(created);
    const listed = await people(installer.token, site.id);
    expect(listed.status).toBe(200);
    const [invited, ...rest] =
      await json<Array<{ status: string; invitationId: string; email: string; role: string }>>(listed);
    expect(rest).toEqual([]);
    expect(invited).toMatchObject({ status: 'invited', email: typo, role: 'owner' });
    const withdrawn = await sys.request('DELETE', `/sites/${site.id}/invitations/${invited!.invitationId}`, {
      token: installer.token,
    });
    expect(withdrawn.status).toBe(204);
    const owner = await sys.signIn();
    const again = await sys.request('POST', `/sites/${site.id}/people`, {
      token: installer.token,
      body: { email: owner.email, role: 'owner' },
    });
    expect(again.status).toBe(201);
    await sys.request('POST', await linkIn(sys, owner.email, '/invitations/'), form({}));
    expect(await membership(site.id, owner.id)).toMatchObject({ role: 'owner' });
    // Everyone else reads people with a term only (V7).
    await expectProblem(await people(owner.token, site.id), 403, 'no_valid_subscription');
  });
});

describe('events and notifications', () => {
  it('lists events newest first with an opaque cursor, ids only; the owner chooses notifications', async () => {
    const { owner, site } = await activeSite(sys);
    const admin = await sys.signIn();
    await addMember(sys, site.id, admin.id, { role: 'admin' });
    const user = await sys.signIn();
    for (let i = 0; i < 3; i++) await addPerson(owner.token, site.id, newEmail());
    await addPerson(owner.token, site.id, user.email);
    await addMember(sys, site.id, user.id);

    const all = await json<{
      events: Array<{ type: string; actor: { profileId: string } }>;
      nextCursor: null;
    }>(await sys.request('GET', `/sites/${site.id}/events?limit=200`, { token: admin.token }));
    expect(all.events.map((e) => e.type)).toEqual([
      'member.invited',
      'member.invited',
      'member.invited',
      'member.invited',
      'subscription.redeemed',
    ]);
    expect(all.events[0]?.actor.profileId).toBe(owner.id);
    expect(all.nextCursor).toBeNull();
    expect(JSON.stringify(all)).not.toMatch(/@example\.test/);

    const first = await json<{ events: unknown[]; nextCursor: string }>(
      await sys.request('GET', `/sites/${site.id}/events?limit=2`, { token: owner.token }),
    );
    expect(first.events).toHaveLength(2);
    const rest = await json<{ events: Array<{ type: string }>; nextCursor: string | null }>(
      await sys.request('GET', `/sites/${site.id}/events?limit=2&cursor=${first.nextCursor}`, {
        token: owner.token,
      }),
    );
    expect(rest.events.map((e) => e.type)).toEqual(['member.invited', 'member.invited']);
    expect(rest.nextCursor).not.toBeNull();

    for (const query of ['limit=0', 'limit=201', 'cursor=bogus']) {
      await expectProblem(
        await sys.request('GET', `/sites/${site.id}/events?${query}`, { token: owner.token }),
        400,
        'validation_failed',
      );
    }
    await expectProblem(
      await sys.request('GET', `/sites/${site.id}/events`, { token: user.token }),
      403,
      'forbidden',
    );

    const put = (token: string, eventTypes: unknown) =>
      sys.request('PUT', `/sites/${site.id}/notifications`, { token, body: { eventTypes } });
    const saved = await put(owner.token, ['tamper', 'lock.open_refused', 'tamper']);
    expect(saved.status).toBe(200);
    expect(await json(saved)).toEqual({ eventTypes: ['lock.open_refused', 'tamper'] });
    const [row] = await sys.db.select().from(sites).where(eq(sites.id, site.id));
    expect(row?.notifyEventTypes).toEqual(['lock.open_refused', 'tamper']);
    await expectProblem(await put(owner.token, ['fire']), 400, 'validation_failed');
    await expectProblem(await put(admin.token, ['tamper']), 403, 'forbidden');
    // An empty choice is a choice too; each saved choice, and only those, is in the audit trail.
    expect(await json(await put(owner.token, []))).toEqual({ eventTypes: [] });
    const [cleared] = await sys.db.select().from(sites).where(eq(sites.id, site.id));
    expect(cleared?.notifyEventTypes).toEqual([]);
    const trail = await json<{
      events: Array<{ type: string; actor: { profileId: string }; data: unknown }>;
    }>(await sys.request('GET', `/sites/${site.id}/events?limit=3`, { token: owner.token }));
    expect(trail.events.map((e) => [e.type, e.actor.profileId, e.data])).toEqual([
      ['site.notifications_changed', owner.id, { eventTypes: [] }],
      ['site.notifications_changed', owner.id, { eventTypes: ['lock.open_refused', 'tamper'] }],
      ['member.invited', owner.id, expect.anything()],
    ]);
  });
});
