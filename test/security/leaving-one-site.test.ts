import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findMembership } from '../../db/queries/memberships';
import { accessMethods } from '../../db/schema';
import {
  acceptAsProfile,
  expectAnswer,
  invite,
  member,
  ownedActiveSite,
  type PeopleSecurity,
  type Person,
  redeem,
  startPeopleSecurity,
} from './people-harness';

/**
 * S6, S8 at the edges: leaving or being removed ends the membership and the access methods at that
 * one site, and nothing elsewhere (a member of two sites keeps the other whole); a member who is
 * also the site's installer keeps installing it (S1 ends that only at release); the owner is never
 * removed, by an admin or the installer, and never leaves.
 */

let t: PeopleSecurity;

beforeAll(async () => {
  t = await startPeopleSecurity();
});
afterAll(async () => {
  await t?.close();
});

const methodsOf = async (siteId: string, profileId: string) =>
  (
    await t.sys.db
      .select({ status: accessMethods.status })
      .from(accessMethods)
      .where(and(eq(accessMethods.siteId, siteId), eq(accessMethods.profileId, profileId)))
  ).map((m) => m.status);
const membershipOf = (siteId: string, profileId: string) => findMembership(t.sys.db, siteId, profileId);

async function grant(token: string, siteId: string, profileId: string) {
  for (const body of [{ kind: 'remote' }, { kind: 'tag', tagUid: `TAG-${randomUUID()}` }]) {
    expectAnswer(await t.http('POST', `/sites/${siteId}/people/${profileId}/access`, { token, body }), 201);
  }
}

/** The same person an admin at two sites, holding methods at both. */
async function memberOfTwo(): Promise<{ owners: Person[]; sites: string[]; person: Person }> {
  const owners = [await t.sys.signIn(), await t.sys.signIn()];
  const sites = [await ownedActiveSite(t, owners[0]!), await ownedActiveSite(t, owners[1]!)];
  const person = await member(t, owners[0]!.token, sites[0]!, 'admin');
  await invite(t, owners[1]!.token, sites[1]!, person.email, 'admin');
  await acceptAsProfile(t, person.email);
  for (const [i, siteId] of sites.entries()) await grant(owners[i]!.token, siteId, person.id);
  return { owners, sites, person };
}

async function expectOtherSiteWhole(siteId: string, person: Person) {
  expect((await membershipOf(siteId, person.id))?.role).toBe('admin');
  expect(await methodsOf(siteId, person.id)).toEqual(['active', 'active']);
  expectAnswer(await t.http('GET', `/sites/${siteId}/people`, { token: person.token }), 200);
  const me = expectAnswer(await t.http('GET', '/me', { token: person.token }), 200).body as {
    memberships: Array<{ siteId: string }>;
  };
  expect(me.memberships.map((m) => m.siteId)).toEqual([siteId]);
}

describe('a member of two sites', () => {
  it('leaving one keeps the other whole', async () => {
    const { sites, person } = await memberOfTwo();
    expectAnswer(
      await t.http('DELETE', `/sites/${sites[0]}/people/${person.id}`, { token: person.token }),
      204,
    );
    expect(await membershipOf(sites[0]!, person.id)).toBeUndefined();
    expect(await methodsOf(sites[0]!, person.id)).toEqual(['revoked', 'revoked']);
    await expectOtherSiteWhole(sites[1]!, person);
  });

  it('removed from one keeps the other whole', async () => {
    const { owners, sites, person } = await memberOfTwo();
    expectAnswer(
      await t.http('DELETE', `/sites/${sites[0]}/people/${person.id}`, { token: owners[0]!.token }),
      204,
    );
    expect(await methodsOf(sites[0]!, person.id)).toEqual(['revoked', 'revoked']);
    await expectOtherSiteWhole(sites[1]!, person);
  });
});

describe('a member who is also the installer', () => {
  it('leaving ends the membership and its methods; they still install the site until release', async () => {
    const installer = await t.sys.signIn({ platformRole: 'installer' });
    const owner = await t.sys.signIn();
    const siteId = expectAnswer(
      await t.http('POST', '/sites', {
        token: installer.token,
        body: { name: `Installed ${randomUUID().slice(0, 6)}`, ownerEmail: owner.email },
      }),
      201,
    ).body.id as string;
    await acceptAsProfile(t, owner.email);
    await redeem(t, installer.token, siteId);
    await invite(t, installer.token, siteId, installer.email, 'admin');
    await acceptAsProfile(t, installer.email);
    await grant(installer.token, siteId, installer.id);

    expectAnswer(
      await t.http('DELETE', `/sites/${siteId}/people/${installer.id}`, { token: installer.token }),
      204,
    );
    expect(await membershipOf(siteId, installer.id)).toBeUndefined();
    expect(await methodsOf(siteId, installer.id)).toEqual(['revoked', 'revoked']);
    const site = expectAnswer(await t.http('GET', `/sites/${siteId}`, { token: installer.token }), 200);
    expect(site.body.role).toBe('installer');
    // The owner is removed by no one: not the installer, not an admin.
    expectAnswer(
      await t.http('DELETE', `/sites/${siteId}/people/${owner.id}`, { token: installer.token }),
      409,
      'owner_cannot_leave',
    );
    const admin = await member(t, owner.token, siteId, 'admin');
    expectAnswer(
      await t.http('DELETE', `/sites/${siteId}/people/${owner.id}`, { token: admin.token }),
      409,
      'owner_cannot_leave',
    );
    expectAnswer(await t.http('POST', `/sites/${siteId}/release`, { token: installer.token }), 200);
    expectAnswer(await t.http('GET', `/sites/${siteId}`, { token: installer.token }), 404);
    expect((await membershipOf(siteId, owner.id))?.role).toBe('owner');
  });
});
