import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findMembership } from '../../db/queries/memberships';
import { events } from '../../db/schema';
import {
  expectAnswer,
  invitationLink,
  invite,
  member,
  ownedActiveSite,
  type PeopleSecurity,
  type Person,
  redeem,
  startPeopleSecurity,
} from './people-harness';

/**
 * Class "an invitation outlives its sender's right" (S1, S6–S8, S7): a pending invitation is the
 * inviter's choice, made with a right they held then. When that right ends (an admin demoted to
 * user, removed, or leaving; an installer releasing the site) the invitations they sent are
 * withdrawn with it, in the same change: no one joins, as admin or at all, on the word of someone
 * the site no longer lets choose. The owner's own invitations, and those of an owner who handed the
 * site over and stays admin, are untouched.
 */

let t: PeopleSecurity;

beforeAll(async () => {
  t = await startPeopleSecurity();
});
afterAll(async () => {
  await t?.close();
});

const membershipOf = (siteId: string, profileId: string) => findMembership(t.sys.db, siteId, profileId);

/** The invitation links of `inviter` sent to two fresh profiles (as admin and as user), not yet followed. */
async function invitationsBy(inviterToken: string, siteId: string) {
  const asAdmin = await t.sys.signIn();
  const asUser = await t.sys.signIn();
  await invite(t, inviterToken, siteId, asAdmin.email, 'admin');
  await invite(t, inviterToken, siteId, asUser.email, 'user');
  return [
    { person: asAdmin, link: await invitationLink(t, asAdmin.email) },
    { person: asUser, link: await invitationLink(t, asUser.email) },
  ];
}

/** Each link answers 410 and makes no member; the site's list no longer shows the invitation. */
async function expectWithdrawn(
  siteId: string,
  ownerToken: string,
  invited: Array<{ person: Person; link: string }>,
) {
  for (const { person, link } of invited) {
    expect((await t.http('GET', link)).status).toBe(410);
    expect((await t.http('POST', link, { form: {} })).status).toBe(410);
    expect(await membershipOf(siteId, person.id)).toBeUndefined();
  }
  const people = expectAnswer(await t.http('GET', `/sites/${siteId}/people`, { token: ownerToken }), 200)
    .body as unknown as Array<{ email: string }>;
  const listed = people.map((p) => p.email);
  for (const { person } of invited) expect(listed).not.toContain(person.email);
  const withdrawn = await t.sys.db
    .select({ data: events.data })
    .from(events)
    .where(and(eq(events.siteId, siteId), eq(events.type, 'member.invitation_withdrawn')));
  expect(withdrawn).toHaveLength(invited.length);
}

async function siteWithAdmin() {
  const owner = await t.sys.signIn();
  const siteId = await ownedActiveSite(t, owner);
  const admin = await member(t, owner.token, siteId, 'admin');
  return { owner, siteId, admin };
}

describe('an admin who loses the right to invite', () => {
  it('demoted to user: the admin and user invitations they sent are withdrawn', async () => {
    const { owner, siteId, admin } = await siteWithAdmin();
    const invited = await invitationsBy(admin.token, siteId);
    expectAnswer(
      await t.http('PATCH', `/sites/${siteId}/people/${admin.id}`, {
        token: owner.token,
        body: { role: 'user' },
      }),
      200,
    );
    await expectWithdrawn(siteId, owner.token, invited);
  });

  it('removed: the same', async () => {
    const { owner, siteId, admin } = await siteWithAdmin();
    const invited = await invitationsBy(admin.token, siteId);
    expectAnswer(await t.http('DELETE', `/sites/${siteId}/people/${admin.id}`, { token: owner.token }), 204);
    await expectWithdrawn(siteId, owner.token, invited);
  });

  it('leaving: the same', async () => {
    const { owner, siteId, admin } = await siteWithAdmin();
    const invited = await invitationsBy(admin.token, siteId);
    expectAnswer(await t.http('DELETE', `/sites/${siteId}/people/${admin.id}`, { token: admin.token }), 204);
    await expectWithdrawn(siteId, owner.token, invited);
  });

  it('an admin promoted, or a user demoted, keeps what the others sent: the owner’s invitations stay', async () => {
    const { owner, siteId, admin } = await siteWithAdmin();
    const user = await member(t, owner.token, siteId, 'user');
    const [byOwner] = await invitationsBy(owner.token, siteId);
    const byAdmin = await invitationsBy(admin.token, siteId);
    expectAnswer(
      await t.http('PATCH', `/sites/${siteId}/people/${user.id}`, {
        token: owner.token,
        body: { role: 'admin' },
      }),
      200,
    );
    // Admin to admin changes no right: their invitations stay.
    expectAnswer(
      await t.http('PATCH', `/sites/${siteId}/people/${admin.id}`, {
        token: owner.token,
        body: { role: 'admin' },
      }),
      200,
    );
    for (const { person, link } of [byOwner!, ...byAdmin]) {
      expectAnswer(await t.http('POST', link, { form: {} }), 200);
      expect((await membershipOf(siteId, person.id))?.role).toBeDefined();
    }
  });

  it('an owner who transferred the site stays admin: their invitations stay', async () => {
    const { owner, siteId, admin } = await siteWithAdmin();
    const invited = await invitationsBy(owner.token, siteId);
    expectAnswer(
      await t.http('POST', `/sites/${siteId}/ownership`, {
        token: owner.token,
        body: { profileId: admin.id },
      }),
      200,
    );
    for (const { person, link } of invited) {
      expectAnswer(await t.http('POST', link, { form: {} }), 200);
      expect(await membershipOf(siteId, person.id)).toBeDefined();
    }
  });
});

describe('an installer who releases the site (S1)', () => {
  it('the admin and user invitations they sent before release are withdrawn; the owner’s stay', async () => {
    const installer = await t.sys.signIn({ platformRole: 'installer' });
    const owner = await t.sys.signIn();
    const siteId = expectAnswer(
      await t.http('POST', '/sites', {
        token: installer.token,
        body: { name: `Installed ${randomUUID().slice(0, 6)}`, ownerEmail: owner.email },
      }),
      201,
    ).body.id as string;
    expectAnswer(await t.http('POST', await invitationLink(t, owner.email), { form: {} }), 200);
    await redeem(t, installer.token, siteId);
    const invited = await invitationsBy(installer.token, siteId);
    const [byOwner] = await invitationsBy(owner.token, siteId);
    expectAnswer(await t.http('POST', `/sites/${siteId}/release`, { token: installer.token }), 200);
    await expectWithdrawn(siteId, owner.token, invited);
    expectAnswer(await t.http('POST', byOwner!.link, { form: {} }), 200);
    expect((await membershipOf(siteId, byOwner!.person.id))?.role).toBe('admin');
  });
});

describe('an invitation against its sender’s demotion, at once', () => {
  it('in generated orders: each acceptance is a member or a 410, and no invitation of a user stays pending', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray(['accept', 'demote', 'invite', 'remove'] as const, { minLength: 2 }),
        async (order) => {
          const { owner, siteId, admin } = await siteWithAdmin();
          const [asAdmin] = await invitationsBy(admin.token, siteId);
          const later = await t.sys.signIn();
          const send = {
            accept: () => t.http('POST', asAdmin!.link, { form: {} }),
            demote: () =>
              t.http('PATCH', `/sites/${siteId}/people/${admin.id}`, {
                token: owner.token,
                body: { role: 'user' },
              }),
            invite: () =>
              t.http('POST', `/sites/${siteId}/people`, {
                token: admin.token,
                body: { email: later.email, role: 'admin' },
              }),
            remove: () => t.http('DELETE', `/sites/${siteId}/people/${admin.id}`, { token: owner.token }),
          };
          const answers = await Promise.all(order.map(async (name) => ({ name, ...(await send[name]()) })));
          const failed = answers.filter((a) => a.status >= 500);
          expect(failed.map((a) => `${a.name} ${a.status} ${a.text.slice(0, 200)}`)).toEqual([]);
          const accepted = answers.find((a) => a.name === 'accept');
          if (accepted) {
            expect([200, 410]).toContain(accepted.status);
            expect((await membershipOf(siteId, asAdmin!.person.id)) !== undefined).toBe(
              accepted.status === 200,
            );
          }
          // Whatever the order: once the admin is no admin, nothing they sent is left to accept.
          const adminNow = await membershipOf(siteId, admin.id);
          const pending = await t.sys.sql`select id from site_invitations
            where site_id = ${siteId} and invited_by = ${admin.id} and accepted_at is null`;
          if (adminNow?.role !== 'admin') expect(pending).toEqual([]);
        },
      ),
      { numRuns: 16, endOnFailure: true },
    );
  });
});
