import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findMembership } from '../../db/queries/memberships';
import { accessMethods, events, iqAccessEntries, siteInvitations, sites } from '../../db/schema';
import type { SimulatedIq } from '../../iq-sim/iq';
import { grantPlatformRole, revokePlatformRole } from '../../operations/platform-roles';
import { eventually } from '../gateway/helpers';
import {
  acceptAsProfile,
  everySiteEndpoint,
  expectAnswer,
  invitationLink,
  invite,
  member,
  newEmail,
  notFoundEverywhere,
  ownedActiveSite,
  type PeopleSecurity,
  type Person,
  redeem,
  type SiteIds,
  startPeopleSecurity,
} from './people-harness';

/**
 * Class "access outlives its grant" (S1, S6–S8): whoever's grant ended (an installer who released
 * the site, a removed member, a member who left, a withdrawn or expired invitation, an invitation
 * link after its person was removed) keeps nothing: every endpoint of the site answers 404, no
 * access method stays active, and the IQs' lists drop their credentials (K7). Driven over real HTTP
 * and a real device gateway with a simulated IQ on TCP.
 */

let t: PeopleSecurity;

beforeAll(async () => {
  t = await startPeopleSecurity({ gateway: true });
});
afterAll(async () => {
  await t?.close();
});

const KINDS = ['remote', 'tag', 'mobile_key', 'pin'] as const;

interface Installed {
  installer: Person;
  owner: Person;
  admin: Person;
  ids: SiteIds;
  device: SimulatedIq;
  /** The installer's own access methods by kind (when they made themself a member). */
  installerAccess: Record<string, string>;
}

const activeMethods = async (siteId: string, profileId: string) =>
  t.sys.db
    .select({ id: accessMethods.id })
    .from(accessMethods)
    .where(
      and(
        eq(accessMethods.siteId, siteId),
        eq(accessMethods.profileId, profileId),
        eq(accessMethods.status, 'active'),
      ),
    );
const membershipOf = (siteId: string, profileId: string) => findMembership(t.sys.db, siteId, profileId);
const iqEntriesOf = (profileId: string) =>
  t.sys.db.select().from(iqAccessEntries).where(eq(iqAccessEntries.memberId, profileId));
const eventTypes = async (siteId: string, subjectId: string) =>
  (
    await t.sys.db
      .select({ type: events.type, data: events.data })
      .from(events)
      .where(and(eq(events.siteId, siteId), eq(events.subjectProfileId, subjectId)))
  ).map((e) => e.type);

async function grantEveryKind(token: string, siteId: string, profileId: string, iqId: string) {
  const ids: Record<string, string> = {};
  for (const kind of KINDS) {
    const body =
      kind === 'tag' ? { kind, tagUid: `TAG-${randomUUID()}` } : kind === 'pin' ? { kind, iqId } : { kind };
    const granted = expectAnswer(
      await t.http('POST', `/sites/${siteId}/people/${profileId}/access`, { token, body }),
      201,
    );
    ids[kind] = granted.body.id as string;
  }
  return ids;
}

/**
 * The probe's set-up, through the API: an installer creates a site for an owner (who accepts),
 * redeems a voucher, registers an IQ (online) with a lock, and — when `installerRole` is given —
 * invites their own email with that role, accepts, and gives themself every kind of access method.
 */
async function installedSite(installerRole: 'admin' | 'user' | undefined): Promise<Installed> {
  const installer = await t.sys.signIn({ platformRole: 'installer' });
  const owner = await t.sys.signIn();
  const created = expectAnswer(
    await t.http('POST', '/sites', {
      token: installer.token,
      body: { name: `Installed ${randomUUID().slice(0, 6)}`, ownerEmail: owner.email },
    }),
    201,
  );
  const siteId = created.body.id as string;
  await acceptAsProfile(t, owner.email);
  await redeem(t, installer.token, siteId);
  const serial = `IQ-${randomUUID()}`;
  const iq = expectAnswer(
    await t.http('POST', `/sites/${siteId}/iqs`, { token: installer.token, body: { serial, model: 'IQ2' } }),
    201,
  ).body as { id: string; deviceSecret: string; subscribed: boolean };
  expect(iq.subscribed).toBe(true);
  const lock = expectAnswer(
    await t.http('POST', `/sites/${siteId}/locks`, {
      token: installer.token,
      body: { iqId: iq.id, name: 'Door' },
    }),
    201,
  ).body as { id: string };
  const device = await t.connectIq({ serial, secret: iq.deviceSecret });
  const admin = await member(t, owner.token, siteId, 'admin');
  const adminKey = expectAnswer(
    await t.http('POST', `/sites/${siteId}/people/${admin.id}/access`, {
      token: owner.token,
      body: { kind: 'remote' },
    }),
    201,
  ).body.id as string;
  const pending = await invite(t, owner.token, siteId, newEmail('pending'));
  let installerAccess: Record<string, string> = {};
  if (installerRole) {
    await invite(t, installer.token, siteId, installer.email, installerRole);
    await acceptAsProfile(t, installer.email);
    installerAccess = await grantEveryKind(installer.token, siteId, installer.id, iq.id);
    expect((await membershipOf(siteId, installer.id))?.subscribed).toBe(true);
  }
  return {
    installer,
    owner,
    admin,
    device,
    installerAccess,
    ids: {
      siteId,
      iqId: iq.id,
      lockId: lock.id,
      profileId: admin.id,
      accessId: adminKey,
      invitationId: pending.invitationId,
    },
  };
}

async function release(s: Installed) {
  expectAnswer(await t.http('POST', `/sites/${s.ids.siteId}/release`, { token: s.installer.token }), 200);
}

/** Nothing of the site is left to `person`: every endpoint 404, not among their sites. */
async function expectLockedOut(person: Person, ids: SiteIds) {
  const answers = await everySiteEndpoint(t, person, ids);
  expect(answers).toEqual(notFoundEverywhere(answers));
  const sites = expectAnswer(await t.http('GET', '/sites', { token: person.token }), 200)
    .body as unknown as Array<{
    id: string;
  }>;
  expect(sites.map((s) => s.id)).not.toContain(ids.siteId);
  const me = expectAnswer(await t.http('GET', '/me', { token: person.token }), 200).body as {
    memberships: Array<{ siteId: string }>;
  };
  expect(me.memberships.map((m) => m.siteId)).not.toContain(ids.siteId);
}

describe('an installer after release (finding 1, S1)', () => {
  it('the probe exactly: admin with a remote method opens a door before release, and after it finds the site gone everywhere', async () => {
    const s = await installedSite('admin');
    const { siteId, lockId } = s.ids;
    // Before release the installer reads, manages and opens, as the probe saw.
    expectAnswer(await t.http('GET', `/sites/${siteId}/people`, { token: s.installer.token }), 200);
    const opened = expectAnswer(
      await t.http('POST', `/sites/${siteId}/locks/${lockId}/open`, { token: s.installer.token }),
      200,
    );
    expect(opened.body).toEqual({ result: 'opened' });
    await eventually(() => {
      const held = [...s.device.accessList.values()].map((g) => g.memberId);
      expect(held).toContain(s.installer.id);
    });

    await release(s);

    await expectLockedOut(s.installer, s.ids);
    expect(await membershipOf(siteId, s.installer.id)).toBeUndefined();
    expect(await activeMethods(siteId, s.installer.id)).toEqual([]);
    expect(await iqEntriesOf(s.installer.id)).toEqual([]);
    // The IQ itself drops every credential of the installer: the locks no longer know them (K7).
    await eventually(() => {
      const held = [...s.device.accessList.values()].map((g) => g.memberId);
      expect(held).not.toContain(s.installer.id);
    });
    const tag = await t.sys.db
      .select({ tagUid: accessMethods.tagUid })
      .from(accessMethods)
      .where(eq(accessMethods.id, s.installerAccess.tag!));
    expect(s.device.presentTag(lockId, tag[0]!.tagUid!).opened).toBe(false);
    expect(await eventTypes(siteId, s.installer.id)).toContain('member.released');
    // The owner still has the site, and the admin still opens through the cloud's checks.
    expectAnswer(await t.http('GET', `/sites/${siteId}/people`, { token: s.owner.token }), 200);
  });

  it('as a user holding every access kind: the same, and the release event lists each revoked method', async () => {
    const s = await installedSite('user');
    await release(s);
    await expectLockedOut(s.installer, s.ids);
    expect(await activeMethods(s.ids.siteId, s.installer.id)).toEqual([]);
    const [released] = await t.sys.db
      .select({ data: events.data })
      .from(events)
      .where(
        and(
          eq(events.siteId, s.ids.siteId),
          eq(events.type, 'member.released'),
          eq(events.subjectProfileId, s.installer.id),
        ),
      );
    expect(new Set((released!.data as { revokedAccessIds: string[] }).revokedAccessIds)).toEqual(
      new Set(Object.values(s.installerAccess)),
    );
    await eventually(async () => expect(await iqEntriesOf(s.installer.id)).toEqual([]));
  });

  it('with no membership but a pending invitation to themself: the invitation is withdrawn, its link answers 410', async () => {
    const s = await installedSite(undefined);
    await invite(t, s.installer.token, s.ids.siteId, s.installer.email, 'admin');
    const link = await invitationLink(t, s.installer.email);
    await release(s);
    await expectLockedOut(s.installer, s.ids);
    expectAnswer(await t.http('GET', link), 410);
    expectAnswer(await t.http('POST', link, { form: {} }), 410);
    expect(await membershipOf(s.ids.siteId, s.installer.id)).toBeUndefined();
    const open = await t.sys.db
      .select()
      .from(siteInvitations)
      .where(and(eq(siteInvitations.siteId, s.ids.siteId), eq(siteInvitations.email, s.installer.email)));
    expect(open).toEqual([]);
  });

  it('an installer who made themself the owner cannot release (they would keep it); other installs are untouched', async () => {
    const installer = await t.sys.signIn({ platformRole: 'installer' });
    const ownerEmail = newEmail('owner');
    const site = expectAnswer(
      await t.http('POST', '/sites', { token: installer.token, body: { name: 'Self-owned', ownerEmail } }),
      201,
    ).body.id as string;
    const other = expectAnswer(
      await t.http('POST', '/sites', {
        token: installer.token,
        body: { name: 'Other', ownerEmail: newEmail() },
      }),
      201,
    ).body.id as string;
    const [ownerInvitation] = await t.sys.db
      .select({ id: siteInvitations.id })
      .from(siteInvitations)
      .where(eq(siteInvitations.siteId, site));
    expectAnswer(
      await t.http('DELETE', `/sites/${site}/invitations/${ownerInvitation!.id}`, { token: installer.token }),
      204,
    );
    await invite(t, installer.token, site, installer.email, 'owner');
    await acceptAsProfile(t, installer.email);
    expectAnswer(
      await t.http('POST', `/sites/${site}/release`, { token: installer.token }),
      409,
      'owner_not_joined',
    );
    expect((await membershipOf(site, installer.id))?.role).toBe('owner');
    // The other site is still theirs to install.
    expectAnswer(await t.http('GET', `/sites/${other}`, { token: installer.token }), 200);
  });
});

describe('an installer whose platform role was taken away', () => {
  it('before release: the site is not found for them everywhere, nor listed; granted again, it is theirs to install again', async () => {
    const s = await installedSite(undefined);
    expectAnswer(await t.http('GET', `/sites/${s.ids.siteId}/people`, { token: s.installer.token }), 200);

    expect(await revokePlatformRole(t.sys.db, s.installer.email)).toMatchObject({ kind: 'revoked' });

    // The same session, its next request: nothing of the site, release included (S1).
    await expectLockedOut(s.installer, s.ids);
    expect((await t.sys.db.select().from(sites).where(eq(sites.id, s.ids.siteId)))[0]?.releasedAt).toBeNull();
    expectAnswer(await t.http('GET', `/sites/${s.ids.siteId}/people`, { token: s.owner.token }), 200);

    expect(await grantPlatformRole(t.sys.db, s.installer.email, 'installer')).toMatchObject({
      kind: 'granted',
    });
    expectAnswer(await t.http('GET', `/sites/${s.ids.siteId}/people`, { token: s.installer.token }), 200);
    await release(s);
  });
});

describe('members whose grant ended (S6, S8)', () => {
  async function siteWithMember() {
    const s = await installedSite(undefined);
    await release(s);
    const person = await member(t, s.owner.token, s.ids.siteId, 'admin');
    const link = await invitationLink(t, person.email);
    const access = await grantEveryKind(s.owner.token, s.ids.siteId, person.id, s.ids.iqId);
    await eventually(() => {
      expect([...s.device.accessList.values()].map((g) => g.memberId)).toContain(person.id);
    });
    return { s, person, link, access };
  }

  async function expectNothingLeft(s: Installed, person: Person, link: string) {
    await expectLockedOut(person, s.ids);
    expect(await membershipOf(s.ids.siteId, person.id)).toBeUndefined();
    expect(await activeMethods(s.ids.siteId, person.id)).toEqual([]);
    await eventually(() => {
      expect([...s.device.accessList.values()].map((g) => g.memberId)).not.toContain(person.id);
    });
    // The link they joined with is spent: it cannot bring them back.
    expectAnswer(await t.http('POST', link, { form: {} }), 410);
    expect(await membershipOf(s.ids.siteId, person.id)).toBeUndefined();
  }

  it('a removed member', async () => {
    const { s, person, link } = await siteWithMember();
    expectAnswer(
      await t.http('DELETE', `/sites/${s.ids.siteId}/people/${person.id}`, { token: s.owner.token }),
      204,
    );
    await expectNothingLeft(s, person, link);
    expect(await eventTypes(s.ids.siteId, person.id)).toContain('member.removed');
  });

  it('a member who left; the owner cannot leave', async () => {
    const { s, person, link } = await siteWithMember();
    expectAnswer(
      await t.http('DELETE', `/sites/${s.ids.siteId}/people/${person.id}`, { token: person.token }),
      204,
    );
    await expectNothingLeft(s, person, link);
    expect(await eventTypes(s.ids.siteId, person.id)).toContain('member.left');
    expectAnswer(
      await t.http('DELETE', `/sites/${s.ids.siteId}/people/${s.owner.id}`, { token: s.owner.token }),
      409,
      'owner_cannot_leave',
    );
    expect((await membershipOf(s.ids.siteId, s.owner.id))?.role).toBe('owner');
  });

  it('a member leaves an expired site too (leaving needs no subscription)', async () => {
    const { s, person, link } = await siteWithMember();
    await t.sys.sql`update sites set subscription_status = 'expired' where id = ${s.ids.siteId}`;
    expectAnswer(
      await t.http('DELETE', `/sites/${s.ids.siteId}/people/${person.id}`, { token: person.token }),
      204,
    );
    expect(await membershipOf(s.ids.siteId, person.id)).toBeUndefined();
    expect(await activeMethods(s.ids.siteId, person.id)).toEqual([]);
    expectAnswer(await t.http('POST', link, { form: {} }), 410);
  });
});

describe('invitations whose grant ended (S7)', () => {
  it('a withdrawn invitation: its link answers 410 on GET and POST, nobody joins, it is no longer listed', async () => {
    const owner = await t.sys.signIn();
    const siteId = await ownedActiveSite(t, owner);
    const known = await t.sys.signIn();
    const unknown = newEmail('unknown');
    const invitations = [
      await invite(t, owner.token, siteId, known.email),
      await invite(t, owner.token, siteId, unknown),
    ];
    const links = [await invitationLink(t, known.email), await invitationLink(t, unknown)];
    for (const i of invitations) {
      expectAnswer(
        await t.http('DELETE', `/sites/${siteId}/invitations/${i.invitationId}`, { token: owner.token }),
        204,
      );
      // Withdrawn once; a second time there is nothing to withdraw.
      expectAnswer(
        await t.http('DELETE', `/sites/${siteId}/invitations/${i.invitationId}`, { token: owner.token }),
        404,
        'not_found',
      );
    }
    for (const link of links) {
      const page = expectAnswer(await t.http('GET', link), 410);
      expect(page.text).toContain('withdrawn');
      expectAnswer(
        await t.http('POST', link, { form: { name: 'Mallory', password: 'a long enough password' } }),
        410,
      );
    }
    expect(await membershipOf(siteId, known.id)).toBeUndefined();
    const [created] = await t.sys.sql`select count(*)::int as n from profiles where email = ${unknown}`;
    expect(created!.n).toBe(0);
    const listed = expectAnswer(await t.http('GET', `/sites/${siteId}/people`, { token: owner.token }), 200)
      .body as unknown as Array<{ status: string }>;
    expect(listed.map((p) => p.status)).toEqual(['member']);
    expect(await eventTypesOfSite(siteId)).toContain('member.invitation_withdrawn');
  });

  it('an expired invitation (14 days): 410, not listed, and the email may be invited again', async () => {
    const owner = await t.sys.signIn();
    const siteId = await ownedActiveSite(t, owner);
    const known = await t.sys.signIn();
    const first = await invite(t, owner.token, siteId, known.email);
    const days = (Date.parse(first.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(13.99);
    expect(days).toBeLessThanOrEqual(14);
    const link = await invitationLink(t, known.email);
    // Fourteen days pass (the API's clock is the wall clock; the row's deadline moves instead).
    await t.sys.db
      .update(siteInvitations)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(siteInvitations.id, first.invitationId));
    expectAnswer(await t.http('GET', link), 410);
    expectAnswer(await t.http('POST', link, { form: {} }), 410);
    expect(await membershipOf(siteId, known.id)).toBeUndefined();
    const listed = expectAnswer(await t.http('GET', `/sites/${siteId}/people`, { token: owner.token }), 200)
      .body as unknown as Array<{ status: string }>;
    expect(listed.map((p) => p.status)).toEqual(['member']);
    const again = await invite(t, owner.token, siteId, known.email);
    expect(again.invitationId).not.toBe(first.invitationId);
    // The old link stays dead; the new one works.
    expectAnswer(await t.http('POST', link, { form: {} }), 410);
    await acceptAsProfile(t, known.email);
    expect((await membershipOf(siteId, known.id))?.role).toBe('user');
  });

  it('a link of one site’s invitation, used after its person was removed, brings back nothing; another site’s link joins only that site', async () => {
    const ownerA = await t.sys.signIn();
    const ownerB = await t.sys.signIn();
    const siteA = await ownedActiveSite(t, ownerA);
    const siteB = await ownedActiveSite(t, ownerB);
    const person = await t.sys.signIn();
    await invite(t, ownerA.token, siteA, person.email, 'admin');
    const linkA = await invitationLink(t, person.email);
    await invite(t, ownerB.token, siteB, person.email);
    const linkB = await invitationLink(t, person.email);
    expect(linkB).not.toBe(linkA);
    expectAnswer(await t.http('POST', linkA, { form: {} }), 200);
    expectAnswer(await t.http('DELETE', `/sites/${siteA}/people/${person.id}`, { token: ownerA.token }), 204);
    expectAnswer(await t.http('GET', linkA), 410);
    expectAnswer(await t.http('POST', linkA, { form: {} }), 410);
    expect(await membershipOf(siteA, person.id)).toBeUndefined();
    expectAnswer(await t.http('POST', linkB, { form: {} }), 200);
    expect((await membershipOf(siteB, person.id))?.role).toBe('user');
    expect(await membershipOf(siteA, person.id)).toBeUndefined();
    expectAnswer(await t.http('GET', `/sites/${siteA}`, { token: person.token }), 404, 'not_found');
    // Used once, dead for good.
    expectAnswer(await t.http('POST', linkB, { form: {} }), 410);
  });
});

const eventTypesOfSite = async (siteId: string) =>
  (await t.sys.db.select({ type: events.type }).from(events).where(eq(events.siteId, siteId))).map(
    (e) => e.type,
  );
