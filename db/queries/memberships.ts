import { eq, type SQLWrapper, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { preparedPer, rawStatement } from '../prepared';
import { memberships, sites } from '../schema';
import { jsonArrayText, jsonObjectText, oneRow } from './json-sql';
import { type RowJson, rowOfJson } from './row-json';

export type Membership = typeof memberships.$inferSelect;

/** What a request at a site reads of the caller's membership with the session: role and subscription. */
export const membershipFactsColumns = { role: memberships.role, subscribed: memberships.subscribed };
export type MembershipFacts = Pick<Membership, keyof typeof membershipFactsColumns>;

const membershipStatement = rawStatement<{ siteId: string; profileId: string }, { membership: RowJson }>(
  (v) => sql`select row_to_json(m) as membership from memberships m
    where m.site_id = ${v('siteId')}::uuid and m.profile_id = ${v('profileId')}::uuid`,
);

/**
 * The profile's membership of the site, if any. A raw statement (issue 15: drizzle built this select
 * anew at every call, in every change of a site's people).
 */
export async function findMembership(
  db: DbOrTx,
  siteId: string,
  profileId: string,
): Promise<Membership | undefined> {
  const [row] = await membershipStatement(db, { siteId, profileId });
  return row ? rowOfJson(memberships, row.membership) : undefined;
}

const membershipsOfProfile = preparedPer((db) =>
  db
    .select({
      siteId: sites.id,
      siteName: sites.name,
      role: memberships.role,
      subscribed: memberships.subscribed,
      masterKey: memberships.masterKey,
    })
    .from(memberships)
    .innerJoin(sites, eq(sites.id, memberships.siteId))
    .where(eq(memberships.profileId, sql.placeholder('profileId')))
    .orderBy(sites.name)
    .prepare('memberships_of_profile'),
);

/** The caller's sites with their role in each, for GET /sites. */
export function listMembershipsOfProfile(db: DbOrTx, profileId: string) {
  return membershipsOfProfile(db).execute({ profileId });
}

/**
 * The memberships of the profile `profileId` (a column or a placeholder) as /me answers them, a JSON
 * array PostgreSQL writes (issue 15), ordered by site name as listMembershipsOfProfile. Written in
 * SQL with aliases: drizzle leaves columns in a template unqualified outside a join, which a
 * correlated subquery would read as its own.
 */
export const membershipsJsonOf = (profileId: SQLWrapper) => sql<string>`(
  select ${jsonArrayText(
    jsonObjectText([
      ['siteId', 'uuid', sql.raw('s.id')],
      ['siteName', 'text', sql.raw('s.name')],
      ['role', 'text', sql.raw('m.role')],
      ['subscribed', 'json', sql.raw('m.subscribed')],
      ['masterKey', 'json', sql.raw('m.master_key')],
    ]),
    sql.raw('s.name'),
  )}
  from memberships m inner join sites s on s.id = m.site_id
  where m.profile_id = ${profileId}
)`;

const membershipsJson = preparedPer((db) =>
  db
    .select({ json: membershipsJsonOf(sql.placeholder('profileId')) })
    .from(oneRow())
    .prepare('memberships_json_of_profile'),
);

/** The caller's memberships as /me's JSON array (membershipsJsonOf). */
export async function membershipsOfProfileJson(db: DbOrTx, profileId: string): Promise<string> {
  const [row] = await membershipsJson(db).execute({ profileId });
  return row!.json;
}
