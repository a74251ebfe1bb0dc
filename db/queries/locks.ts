import { and, eq, type SQLWrapper, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { preparedPer } from '../prepared';
import { locks } from '../schema';
import { oneRow } from './json-sql';

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

/** What a remote opening (K4) needs to know of a lock of this site (openTargetOf). */
export interface OpenTarget {
  lock: Pick<Lock, 'id' | 'siteId' | 'iqId' | 'name'>;
  iqSubscribed: boolean | null;
  iqOnline: boolean | null;
  /** The command endpoint of the gateway instance holding the IQ (null: none that is running). */
  commandUrl: string | null;
  remoteAccess: boolean;
}

/**
 * What a remote opening (K4) needs to know of a lock of this site, as one JSON value a statement can
 * read beside others (the caller's session: require-auth.ts): the lock, its IQ's subscribed and online
 * flags and the command endpoint of the gateway instance holding it, and whether the caller holds an
 * active remote access method for it. K4, decided: opening from afar needs an active `remote` access
 * method at the site (one bound to an IQ counts for that IQ's locks only); a PIN, tag or mobile key
 * opens at the door, not through the cloud. Null for another site's lock (N4). Written in SQL with
 * aliases (see membershipsJsonOf).
 */
export const openTargetOf = (at: { siteId: SQLWrapper; lockId: SQLWrapper; callerId: SQLWrapper }) =>
  sql<OpenTarget | null>`(
    select json_build_object(
      'lock', json_build_object('id', l.id, 'siteId', l.site_id, 'iqId', l.iq_id, 'name', l.name),
      'iqSubscribed', q.subscribed,
      'iqOnline', q.online,
      'commandUrl', g.command_url,
      'remoteAccess', exists (
        select 1 from access_methods a
        where a.site_id = l.site_id and a.profile_id = ${at.callerId} and a.kind = 'remote'
          and a.status = 'active' and (a.iq_id is null or a.iq_id = l.iq_id)
      )
    )
    from locks l
    left join iqs q on q.id = l.iq_id and q.site_id = l.site_id
    left join gateway_instances g on g.id = q.gateway_instance
    where l.site_id = ${at.siteId} and l.id = ${at.lockId}
  )`;

const openTarget = preparedPer((db) =>
  db
    .select({
      target: openTargetOf({
        siteId: sql.placeholder('siteId'),
        lockId: sql.placeholder('lockId'),
        callerId: sql.placeholder('callerId'),
      }),
    })
    .from(oneRow())
    .prepare('open_target'),
);

/** What a remote opening needs to know of a lock of this site (openTargetOf); undefined for another site's lock. */
export async function findOpenTarget(
  db: DbOrTx,
  input: { siteId: string; lockId: string; callerId: string },
): Promise<OpenTarget | undefined> {
  const [row] = await openTarget(db).execute(input);
  return row?.target ?? undefined;
}
