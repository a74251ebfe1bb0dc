import { and, eq, isNull, or, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { preparedPer } from '../prepared';
import { accessMethods, gatewayInstances, iqs, locks } from '../schema';

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
 * What a remote opening (K4) needs to know of a lock of this site, in one statement: the lock, its
 * IQ's subscribed and online flags and the command endpoint of the gateway instance holding it, and whether the caller holds
 * an active remote access method for it. K4, decided: opening from afar needs an active `remote`
 * access method at the site (one bound to an IQ counts for that IQ's locks only); a PIN, tag or
 * mobile key opens at the door, not through the cloud. Undefined for another site's lock (N4).
 */
export async function findOpenTarget(
  db: DbOrTx,
  input: { siteId: string; lockId: string; callerId: string },
) {
  const [row] = await openTarget(db).execute(input);
  return row;
}

const openTarget = preparedPer((db) => {
  const remote = db
    .select({ found: sql<number>`1` })
    .from(accessMethods)
    .where(
      and(
        eq(accessMethods.siteId, locks.siteId),
        eq(accessMethods.profileId, sql.placeholder('callerId')),
        eq(accessMethods.kind, 'remote'),
        eq(accessMethods.status, 'active'),
        or(isNull(accessMethods.iqId), eq(accessMethods.iqId, locks.iqId)),
      ),
    );
  return db
    .select({
      lock: locks,
      iqSubscribed: iqs.subscribed,
      iqOnline: iqs.online,
      /** The command endpoint of the gateway instance holding the IQ (null: none that is running). */
      commandUrl: gatewayInstances.commandUrl,
      remoteAccess: sql<boolean>`exists (${remote})`,
    })
    .from(locks)
    .leftJoin(iqs, and(eq(iqs.id, locks.iqId), eq(iqs.siteId, locks.siteId)))
    .leftJoin(gatewayInstances, eq(gatewayInstances.id, iqs.gatewayInstance))
    .where(and(eq(locks.siteId, sql.placeholder('siteId')), eq(locks.id, sql.placeholder('lockId'))))
    .prepare('open_target');
});
