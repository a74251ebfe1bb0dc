import { and, eq, isNull, or, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { accessMethods, locks } from '../schema';

export type Lock = typeof locks.$inferSelect;

export async function insertLock(db: DbOrTx, lock: { siteId: string; iqId: string; name: string }) {
  const [row] = await db.insert(locks).values(lock).returning();
  return row!;
}

export async function listLocks(db: DbOrTx, siteId: string): Promise<Lock[]> {
  return db.select().from(locks).where(eq(locks.siteId, siteId)).orderBy(locks.createdAt, locks.id);
}

/** A lock of this site; another site's lock is undefined, like a missing one (N4). */
export async function findSiteLock(db: DbOrTx, siteId: string, lockId: string): Promise<Lock | undefined> {
  const [row] = await db
    .select()
    .from(locks)
    .where(and(eq(locks.siteId, siteId), eq(locks.id, lockId)));
  return row;
}

/**
 * K4, decided: opening from afar needs an active `remote` access method at the site (one bound to an
 * IQ counts for that IQ's locks only). A PIN, tag or mobile key opens at the door, not through the
 * cloud, so they do not count here.
 */
export async function hasRemoteAccess(db: DbOrTx, siteId: string, profileId: string, iqId: string) {
  const [row] = await db
    .select({ found: sql<number>`1` })
    .from(accessMethods)
    .where(
      and(
        eq(accessMethods.siteId, siteId),
        eq(accessMethods.profileId, profileId),
        eq(accessMethods.kind, 'remote'),
        eq(accessMethods.status, 'active'),
        or(isNull(accessMethods.iqId), eq(accessMethods.iqId, iqId)),
      ),
    )
    .limit(1);
  return row !== undefined;
}
