import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { issueEmailToken } from '../../db/queries/email-tokens';
import { insertInvitation } from '../../db/queries/invitations';
import { deletionConsents, emailTokens, memberships, profiles, sites } from '../../db/schema';
import { hashToken, newToken } from '../../domain/secrets';
import { resetPassword } from '../../operations/accounts';
import { acceptInvitation } from '../../operations/invitations';
import { deleteProfileData } from '../../operations/profile-deletion';
import { createTestDatabase } from '../support/database';
import { approvedRequest as approvedRequestIn, newSite as newSiteIn } from '../support/deletion-rows';
import { heldTransaction, untilAnsweredOrWaiting } from '../support/lock-waits';

let database: Database;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const newSite = () => newSiteIn(database.db);
const approvedRequest = (siteCount: number) => approvedRequestIn(database.db, siteCount);

/** An open invitation of `email` to the site; its link's token. */
async function invitation(site: { siteId: string; ownerId: string }, email: string, role: 'user' | 'admin') {
  const { token, hash } = newToken();
  const now = new Date();
  await insertInvitation(database.db, {
    id: randomUUID(),
    siteId: site.siteId,
    email,
    role,
    invitedBy: site.ownerId,
    tokenHash: hash,
    createdAt: now,
    expiresAt: new Date(now.getTime() + 3_600_000),
  });
  return token;
}

/** A live password-reset link of the profile; its token. */
const resetLink = (profileId: string) =>
  issueEmailToken(database.db, { kind: 'password_reset', profileId, ttlMs: 3_600_000, now: new Date() });

const deletion = (requestId: string) => deleteProfileData(database.db, requestId, new Date(), async () => {});

const membershipsOf = (profileId: string) =>
  database.db
    .select({ siteId: memberships.siteId, role: memberships.role })
    .from(memberships)
    .where(eq(memberships.profileId, profileId));

const exists = async (profileId: string) =>
  (await database.db.select({ id: profiles.id }).from(profiles).where(eq(profiles.id, profileId))).length ===
  1;

/**
 * Runs the deletion while a transaction of the test holds the lock of the site it locks first, runs
 * `meanwhile` once the deletion waits there, then lets it go; the deletion's outcome.
 */
async function deletionHeldAtItsFirstLock(
  requestId: string,
  firstSiteId: string,
  meanwhile: () => Promise<unknown>,
) {
  const blocker = await heldTransaction(
    database.sql,
    (tx) => tx`select id from sites where id = ${firstSiteId} for no key update`,
  );
  const outcome = deletion(requestId);
  await untilAnsweredOrWaiting(database.sql, outcome);
  await meanwhile();
  await blocker.commit();
  return outcome;
}

describe('a deletion against changes that commit while it waits for a lock', () => {
  it('a site joined meanwhile is asked, and its membership stays', async () => {
    const { person, requestId, siteIds } = await approvedRequest(1);
    // The deletion locks the invited site too (the invitation goes with the person), in site order:
    // one that sorts after the person's own site is free while the deletion waits at that one. (One
    // that sorts first is taken before the join: the generated interleavings below have both.)
    let joined = await newSite();
    while (joined.siteId < siteIds[0]!) joined = await newSite();
    const token = await invitation(joined, person.email, 'user');
    const first = siteIds[0]!;

    const outcome = await deletionHeldAtItsFirstLock(requestId, first, async () => {
      expect((await acceptInvitation(database.db, { token, now: new Date() })).kind).toBe('joined');
    });

    expect(outcome).toEqual({ kind: 'unasked_sites', siteIds: [joined.siteId] });
    expect(await exists(person.id)).toBe(true);
    expect((await membershipsOf(person.id)).map((m) => m.siteId).sort()).toEqual(
      [...siteIds, joined.siteId].sort(),
    );
    const asked = await database.db
      .select({ decision: deletionConsents.decision })
      .from(deletionConsents)
      .where(and(eq(deletionConsents.requestId, requestId), eq(deletionConsents.siteId, joined.siteId)));
    expect(asked).toEqual([{ decision: 'pending' }]);
  });

  it('an ownership taken meanwhile stops the deletion, and the site keeps its owner', async () => {
    const { person, requestId, siteIds } = await approvedRequest(2);
    const [first, second] = siteIds as [string, string];

    const outcome = await deletionHeldAtItsFirstLock(requestId, first, async () => {
      // As a transfer commits it (operations/sites.ts): the owner steps down, the person takes over.
      await database.db.transaction(async (tx) => {
        await tx
          .update(memberships)
          .set({ role: 'admin', masterKey: false })
          .where(and(eq(memberships.siteId, second), eq(memberships.role, 'owner')));
        await tx
          .update(memberships)
          .set({ role: 'owner', masterKey: true })
          .where(and(eq(memberships.siteId, second), eq(memberships.profileId, person.id)));
      });
    });

    expect(outcome).toEqual({ kind: 'owner', siteIds: [second] });
    expect(await exists(person.id)).toBe(true);
    expect(await membershipsOf(person.id)).toContainEqual({ siteId: second, role: 'owner' });
  });

  it('a site the person installs, held by a change there that then takes their invitation: waited for, not deadlocked with', async () => {
    const { person, requestId } = await approvedRequest(1);
    // The person installs a site they are no member of, where an invitation to them is open.
    const installed = await newSite();
    await database.db
      .update(sites)
      .set({ installerProfileId: person.id })
      .where(eq(sites.id, installed.siteId));
    await invitation(installed, person.email, 'admin');
    // A withdrawal there: the site's lock, then the invitation's row.
    const withdrawal = database.sql.begin(async (tx) => {
      await tx`select id from sites where id = ${installed.siteId} for no key update`;
      const deleting = deletion(requestId);
      await untilAnsweredOrWaiting(database.sql, deleting);
      await tx`select id from site_invitations where site_id = ${installed.siteId} for update`;
      // Wrapped: a promise returned would be waited for before the commit it waits for.
      return { deleting };
    });
    const { deleting } = await withdrawal;
    expect(await deleting).toEqual({ kind: 'deleted' });
    const [site] = await database.db
      .select({ installer: sites.installerProfileId })
      .from(sites)
      .where(eq(sites.id, installed.siteId));
    expect(site?.installer).toBeNull();
  });

  it('a password reset in flight is waited for, not deadlocked with', async () => {
    const { person, requestId } = await approvedRequest(1);
    const followed = await resetLink(person.id);
    const other = await resetLink(person.id);
    // The reset holds its link's row and then waits at the person's other link, held here, before it
    // changes the profile; the deletion comes meanwhile.
    const blocker = await heldTransaction(
      database.sql,
      (tx) => tx`select id from email_tokens where token_hash = ${hashToken(other)} for update`,
    );
    const resetting = resetPassword(database.db, { token: followed, passwordHash: 'new', now: new Date() });
    await untilAnsweredOrWaiting(database.sql, resetting);
    const deleting = deletion(requestId);
    await untilAnsweredOrWaiting(database.sql, deleting);
    await blocker.commit();

    expect(await resetting).toBe(true);
    expect(await deleting).toEqual({ kind: 'deleted' });
    expect(await exists(person.id)).toBe(false);
    expect(await database.db.select().from(emailTokens).where(eq(emailTokens.profileId, person.id))).toEqual(
      [],
    );
  });

  it('generated interleavings: deleted only with every site of the end consenting, else untouched', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          held: fc.integer({ min: 1, max: 3 }),
          joins: fc.integer({ min: 0, max: 2 }),
          leaves: fc.integer({ min: 0, max: 2 }),
          resets: fc.integer({ min: 0, max: 2 }),
          delays: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 5, maxLength: 5 }),
        }),
        async ({ held, joins, leaves, resets, delays }) => {
          const { person, requestId, siteIds } = await approvedRequest(held);
          const joining = [];
          for (let i = 0; i < joins; i++) {
            const site = await newSite();
            joining.push({ siteId: site.siteId, token: await invitation(site, person.email, 'user') });
          }
          const leaving = siteIds.slice(0, Math.min(leaves, held));
          const links = [];
          for (let i = 0; i < resets; i++) links.push(await resetLink(person.id));
          const pause = (i: number) => new Promise((r) => setTimeout(r, delays[i % delays.length]!));
          const [outcome, ...answers] = await Promise.all([
            pause(0).then(() => deletion(requestId)),
            ...joining.map((j, i) =>
              pause(i + 1).then(
                async () => (await acceptInvitation(database.db, { token: j.token, now: new Date() })).kind,
              ),
            ),
            ...leaving.map((siteId, i) =>
              pause(i + 3).then(() =>
                database.db
                  .delete(memberships)
                  .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, person.id))),
              ),
            ),
            ...links.map((token, i) =>
              pause(i + 2).then(() =>
                resetPassword(database.db, { token, passwordHash: 'new', now: new Date() }),
              ),
            ),
          ]);
          const joinAnswers = answers.slice(0, joining.length);

          const now = await membershipsOf(person.id);
          if (outcome.kind === 'deleted') {
            // A join before the deletion's end makes a site that was not asked: none may have joined.
            // One after it finds its invitation gone with the person.
            expect(joinAnswers).toEqual(joining.map(() => 'gone'));
            expect(await exists(person.id)).toBe(false);
            expect(now).toEqual([]);
          } else {
            expect(outcome.kind).toBe('unasked_sites');
            expect(joinAnswers.every((a) => a === 'joined')).toBe(true);
            expect(await exists(person.id)).toBe(true);
            const stays = [...siteIds.filter((s) => !leaving.includes(s)), ...joining.map((j) => j.siteId)];
            expect(now.map((m) => m.siteId).sort()).toEqual(stays.sort());
          }
        },
      ),
      { numRuns: 40, endOnFailure: true },
    );
  });
});
