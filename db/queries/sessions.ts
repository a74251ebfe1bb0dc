import { and, eq, gt, isNotNull, lte, ne, type SQL, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { preparedPer } from '../prepared';
import { memberships, profiles, sessions, sites } from '../schema';
import { openTargetOf } from './locks';
import { membershipsJsonOf } from './memberships';

export async function insertSession(
  db: DbOrTx,
  values: { tokenHash: string; profileId: string; expiresAt: Date },
): Promise<string> {
  const [row] = await db.insert(sessions).values(values).returning({ id: sessions.id });
  if (!row) throw new Error('session insert returned nothing');
  return row.id;
}

const liveSession = and(
  eq(sessions.tokenHash, sql.placeholder('tokenHash')),
  gt(sessions.expiresAt, sql.placeholder('now')),
  isNotNull(profiles.emailConfirmedAt),
);
const callerFields = {
  sessionId: sessions.id,
  id: profiles.id,
  email: profiles.email,
  name: profiles.name,
  platformRole: profiles.platformRole,
};

const sessionCaller = preparedPer((db) =>
  db
    .select(callerFields)
    .from(sessions)
    .innerJoin(profiles, eq(profiles.id, sessions.profileId))
    .where(liveSession)
    .prepare('session_caller'),
);

/**
 * The signed-in caller of a bearer token, in one indexed lookup: the live session joined with its
 * confirmed profile. Undefined for an unknown, expired or logged-out token.
 */
export async function findSessionCaller(db: DbOrTx, tokenHash: string, now: Date) {
  const [row] = await sessionCaller(db).execute({ tokenHash, now: now.toISOString() });
  return row;
}

const sessionCallerWithMemberships = preparedPer((db) =>
  db
    .select({ ...callerFields, membershipsJson: membershipsJsonOf(profiles.id) })
    .from(sessions)
    .innerJoin(profiles, eq(profiles.id, sessions.profileId))
    .where(liveSession)
    .prepare('session_caller_memberships'),
);

/**
 * The caller of a bearer token (as findSessionCaller) with their memberships as /me answers them
 * (membershipsJsonOf), in the same statement: GET /me in one round trip (issue 15).
 */
export async function findSessionCallerWithMemberships(db: DbOrTx, tokenHash: string, now: Date) {
  const [row] = await sessionCallerWithMemberships(db).execute({ tokenHash, now: now.toISOString() });
  return row;
}

/**
 * A live session's caller with the site named by the `siteId` placeholder and their membership there,
 * plus `extra` columns read in the same statement.
 */
const callerAtSite = <Extra extends Record<string, SQL>>(db: DbOrTx, extra: Extra) =>
  db
    .select({ ...callerFields, site: sites, membership: memberships, ...extra })
    .from(sessions)
    .innerJoin(profiles, eq(profiles.id, sessions.profileId))
    .leftJoin(sites, eq(sites.id, sql.placeholder('siteId')))
    .leftJoin(
      memberships,
      and(eq(memberships.siteId, sql.placeholder('siteId')), eq(memberships.profileId, profiles.id)),
    )
    .where(liveSession);

const sessionCallerAtSite = preparedPer((db) => callerAtSite(db, {}).prepare('session_caller_at_site'));

/**
 * The caller of a bearer token (as findSessionCaller) with, in the same statement, the site a request
 * names and the caller's membership there (each undefined when there is none): a site request's
 * authentication and site access in one round trip (issue 15).
 */
export async function findSessionCallerAtSite(db: DbOrTx, tokenHash: string, now: Date, siteId: string) {
  const [row] = await sessionCallerAtSite(db).execute({ tokenHash, now: now.toISOString(), siteId });
  if (!row) return undefined;
  const { site, membership, ...caller } = row;
  return { ...caller, site: site ?? undefined, membership: membership ?? undefined };
}

const sessionCallerOpeningLock = preparedPer((db) =>
  callerAtSite(db, {
    openTarget: openTargetOf({
      siteId: sql.placeholder('siteId'),
      lockId: sql.placeholder('lockId'),
      callerId: sql`${profiles.id}`,
    }),
  }).prepare('session_caller_opening_lock'),
);

/**
 * findSessionCallerAtSite and, in the same statement, what a remote opening of `lockId` needs to know
 * (openTargetOf; undefined for another site's lock): a remote opening's authentication, site access
 * and K4 facts in one round trip (issue 15).
 */
export async function findSessionCallerOpeningLock(
  db: DbOrTx,
  tokenHash: string,
  now: Date,
  at: { siteId: string; lockId: string },
) {
  const [row] = await sessionCallerOpeningLock(db).execute({ tokenHash, now: now.toISOString(), ...at });
  if (!row) return undefined;
  const { site, membership, openTarget, ...caller } = row;
  return {
    ...caller,
    site: site ?? undefined,
    membership: membership ?? undefined,
    openTarget: openTarget ?? undefined,
  };
}

export async function deleteSession(db: DbOrTx, sessionId: string): Promise<void> {
  await db.delete(sessions).where(eq(sessions.id, sessionId));
}

/** A5: every session of the profile, but the one kept (the caller's new one after a change). */
export async function deleteSessionsOfProfile(db: DbOrTx, profileId: string, keep?: string): Promise<void> {
  await db
    .delete(sessions)
    .where(
      keep
        ? and(eq(sessions.profileId, profileId), ne(sessions.id, keep))
        : eq(sessions.profileId, profileId),
    );
}

/** Sessions of the profile that have expired: tidied at each login. */
export async function deleteExpiredSessions(db: DbOrTx, profileId: string, now: Date): Promise<void> {
  await db.delete(sessions).where(and(eq(sessions.profileId, profileId), lte(sessions.expiresAt, now)));
}
