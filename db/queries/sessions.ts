import { and, eq, gt, isNotNull, lte, ne, type SQL, sql } from 'drizzle-orm';
import type { SelectedFields } from 'drizzle-orm/pg-core';
import type { DbOrTx } from '../client';
import { preparedPer } from '../prepared';
import { memberships, profiles, sessions, sites } from '../schema';
import { type MembershipFacts, membershipFactsColumns } from './memberships';
import { type SiteFacts, siteFactsColumns } from './sites';

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

type Columns = Record<string, SQL>;

/** A sign-in statement's row: the caller, and the extra columns by name (their types are the declaration's). */
type CallerRow = {
  sessionId: string;
  id: string;
  email: string;
  name: string;
  platformRole: 'installer' | 'support' | null;
} & Record<string, unknown>;

/** Each sign-in statement's rows: sessions joined with their profiles, selecting `fields`. */
const signedIn = (db: DbOrTx, fields: SelectedFields) =>
  db.select(fields).from(sessions).$dynamic().innerJoin(profiles, eq(profiles.id, sessions.profileId));

/**
 * The sign-in statement, built once per name: the live session of the `tokenHash` placeholder (not
 * expired at `now`) joined with its confirmed profile, in one indexed lookup, plus `extra` columns read
 * in the same statement (the caller's id in them: `profiles.id`). Its run answers undefined for an
 * unknown, expired or logged-out token.
 */
export function sessionCallerReading(name: string, extra: Columns) {
  const statement = preparedPer((db) =>
    signedIn(db, { ...callerFields, ...extra })
      .where(liveSession)
      .prepare(name),
  );
  return async (
    db: DbOrTx,
    tokenHash: string,
    now: Date,
    values: Record<string, unknown> = {},
  ): Promise<CallerRow | undefined> => {
    const [row] = await statement(db).execute({ ...values, tokenHash, now: now.toISOString() });
    return row as CallerRow | undefined;
  };
}

/**
 * sessionCallerReading and, in the same statement, the site of the `siteId` placeholder and the
 * caller's membership there (their facts: siteFactsColumns, membershipFactsColumns; each undefined
 * when there is none): a site request's authentication and the facts its site access decides on in
 * one round trip (issue 15). Drizzle answers null for a missing one by its first column, which is
 * never null in a row of its own (the site's id, the membership's role).
 */
export function sessionCallerAtSiteReading(name: string, extra: Columns) {
  const statement = preparedPer((db) =>
    signedIn(db, { ...callerFields, site: siteFactsColumns, membership: membershipFactsColumns, ...extra })
      .leftJoin(sites, eq(sites.id, sql.placeholder('siteId')))
      .leftJoin(
        memberships,
        and(eq(memberships.siteId, sql.placeholder('siteId')), eq(memberships.profileId, profiles.id)),
      )
      .where(liveSession)
      .prepare(name),
  );
  return async (
    db: DbOrTx,
    tokenHash: string,
    now: Date,
    values: { siteId: string } & Record<string, unknown>,
  ): Promise<
    (CallerRow & { site: SiteFacts | undefined; membership: MembershipFacts | undefined }) | undefined
  > => {
    const [row] = (await statement(db).execute({ ...values, tokenHash, now: now.toISOString() })) as Array<
      CallerRow & { site: SiteFacts | null; membership: MembershipFacts | null }
    >;
    if (!row) return undefined;
    return { ...row, site: row.site ?? undefined, membership: row.membership ?? undefined };
  };
}

/**
 * A5: a login's session, opened only while the profile's password is still the one the login checked.
 * The profile's row is read `for share`: a reset or change that is committing is waited for, and its new
 * password then no longer matches (no session); one that comes after waits for this insert, and then
 * ends the session with the others. Undefined when none was opened (the password changed meanwhile,
 * or the profile is gone).
 */
export async function insertSessionIfPasswordIs(
  db: DbOrTx,
  values: { tokenHash: string; profileId: string; expiresAt: Date; passwordHash: string },
): Promise<string | undefined> {
  const [row] = await db.execute<{ id: string }>(sql`
    insert into sessions (token_hash, profile_id, expires_at)
    select ${values.tokenHash}, p.id, ${values.expiresAt.toISOString()}::timestamptz
    from profiles p
    where p.id = ${values.profileId} and p.password_hash = ${values.passwordHash}
    for share
    returning id`);
  return row?.id;
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
