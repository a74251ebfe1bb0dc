import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { fileDeletionRequest, insertConsents } from '../../db/queries/deletions';
import { insertProfile } from '../../db/queries/profiles';
import { deletionConsents, memberships, sites } from '../../db/schema';

/** A confirmed profile with a unique email, written directly (the tests of a deletion's transaction). */
export async function newProfile(db: Db, name: string) {
  const profile = await insertProfile(db, {
    email: `${randomUUID()}@example.test`,
    name,
    passwordHash: 'unused',
    emailConfirmedAt: new Date(),
  });
  return profile!;
}

/** A site with an owner of its own. */
export async function newSite(db: Db) {
  const owner = await newProfile(db, 'Site Owner');
  const [site] = await db.insert(sites).values({ name: 'Site' }).returning({ id: sites.id });
  await db
    .insert(memberships)
    .values({ siteId: site!.id, profileId: owner.id, role: 'owner', masterKey: true });
  return { siteId: site!.id, ownerId: owner.id };
}

/** A person who is a user of `siteCount` sites, with an open deletion request no site has answered yet. */
export async function pendingRequest(db: Db, siteCount: number) {
  const person = await newProfile(db, 'Leaving Person');
  const held = [];
  for (let i = 0; i < siteCount; i++) held.push(await newSite(db));
  await db
    .insert(memberships)
    .values(held.map((s) => ({ siteId: s.siteId, profileId: person.id, role: 'user' as const })));
  const { request } = await fileDeletionRequest(db, person.id, new Date(Date.now() + 86_400_000));
  await insertConsents(
    db,
    request.id,
    held.map((s) => s.siteId),
  );
  return { person, requestId: request.id, siteIds: held.map((s) => s.siteId).sort() };
}

/**
 * A person who is a user of `siteCount` sites, with an open deletion request that every one of them
 * approved: what the deletion's activity finds when the last consent came.
 */
export async function approvedRequest(db: Db, siteCount: number) {
  const pending = await pendingRequest(db, siteCount);
  await db
    .update(deletionConsents)
    .set({ decision: 'approved', decidedAt: new Date() })
    .where(eq(deletionConsents.requestId, pending.requestId));
  return pending;
}
