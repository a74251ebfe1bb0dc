import { and, asc, eq, inArray, ne, or, type SQLWrapper, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { preparedPer } from '../prepared';
import { accessMethods, memberships, profiles } from '../schema';
import { jsonArrayText, jsonObjectText, oneRow } from './json-sql';
import { findCurrentTerm, slotUsage } from './subscriptions';

export type AccessMethod = typeof accessMethods.$inferSelect;

/** The site's members (one when `withProfile`), and their live access methods, each built once. */
const peopleQueries = (withProfile: boolean) => ({
  members: preparedPer((db) =>
    db
      .select({
        profileId: memberships.profileId,
        name: profiles.name,
        email: profiles.email,
        role: memberships.role,
        subscribed: memberships.subscribed,
        masterKey: memberships.masterKey,
      })
      .from(memberships)
      .innerJoin(profiles, eq(profiles.id, memberships.profileId))
      .where(
        and(
          eq(memberships.siteId, sql.placeholder('siteId')),
          withProfile ? eq(memberships.profileId, sql.placeholder('profileId')) : undefined,
        ),
      )
      .orderBy(asc(memberships.joinedAt), asc(memberships.profileId))
      .prepare(withProfile ? 'person' : 'people'),
  ),
  methods: preparedPer((db) =>
    db
      .select({
        id: accessMethods.id,
        profileId: accessMethods.profileId,
        kind: accessMethods.kind,
        iqId: accessMethods.iqId,
        tagUid: accessMethods.tagUid,
        status: accessMethods.status,
      })
      .from(accessMethods)
      .where(
        and(
          eq(accessMethods.siteId, sql.placeholder('siteId')),
          ne(accessMethods.status, 'revoked'),
          withProfile ? eq(accessMethods.profileId, sql.placeholder('profileId')) : undefined,
        ),
      )
      .orderBy(asc(accessMethods.createdAt))
      .prepare(withProfile ? 'person_access' : 'people_access'),
  ),
});
const everyone = peopleQueries(false);
const onePerson = peopleQueries(true);

/** Members of a site with their live (not revoked) access methods; one member when `profileId` is given. */
export async function listPeople(db: DbOrTx, siteId: string, profileId?: string) {
  const queries = profileId === undefined ? everyone : onePerson;
  const values = profileId === undefined ? { siteId } : { siteId, profileId };
  // Both reads at once (issue 15: the people read was the slowest GET); neither depends on the other.
  const [members, methods] = await Promise.all([
    queries.members(db).execute(values),
    queries.methods(db).execute(values),
  ]);
  return members.map((m) => ({
    ...m,
    access: methods.filter((a) => a.profileId === m.profileId).map(({ profileId: _, ...a }) => a),
  }));
}

export type Person = Awaited<ReturnType<typeof listPeople>>[number];

/**
 * GET people's answer as values a statement can read beside others (the caller's session:
 * api/auth/reads-with-session.ts), JSON text PostgreSQL writes (issue 15: three statements and their
 * row mapping were one): `members`, the site's members as listPeople gives them, each `status: member`
 * with their live access methods; `invited`, the pending invitations (not accepted, not expired at
 * `now`), oldest first, times as Date#toISOString writes them. peopleJsonText joins the two. Written in
 * SQL with aliases (see membershipsJsonOf).
 */
export const peopleJsonOf = (at: { siteId: SQLWrapper; now: SQLWrapper }) => ({
  members: sql<string>`(
    select ${jsonArrayText(
      jsonObjectText([
        ['status', 'text', sql`'member'`],
        ['profileId', 'uuid', sql.raw('m.profile_id')],
        ['name', 'text', sql.raw('p.name')],
        ['email', 'text', sql.raw('p.email')],
        ['role', 'text', sql.raw('m.role')],
        ['subscribed', 'json', sql.raw('m.subscribed')],
        ['masterKey', 'json', sql.raw('m.master_key')],
        [
          'access',
          'object',
          sql`(
            select ${jsonArrayText(
              jsonObjectText([
                ['id', 'uuid', sql.raw('a.id')],
                ['kind', 'text', sql.raw('a.kind')],
                ['iqId', 'uuid', sql.raw('a.iq_id')],
                ['tagUid', 'text', sql.raw('a.tag_uid')],
                ['status', 'text', sql.raw('a.status')],
              ]),
              sql.raw('a.created_at'),
            )}
            from access_methods a
            where a.site_id = m.site_id and a.profile_id = m.profile_id and a.status <> 'revoked'
          )`,
        ],
      ]),
      sql.raw('m.joined_at, m.profile_id'),
    )}
    from memberships m
      -- Each member's profile by its key, at any size of the table (offset 0 keeps the planner from
      -- turning it into a join): while profiles is small, the join hashed the whole table for every
      -- request, about 15 % of this statement's CPU (issue 15).
      cross join lateral (select name, email from profiles where id = m.profile_id offset 0) p
    where m.site_id = ${at.siteId}
  )`,
  invited: sql<string>`(
    select ${jsonArrayText(
      jsonObjectText([
        ['status', 'text', sql`'invited'`],
        ['invitationId', 'uuid', sql.raw('i.id')],
        ['email', 'text', sql.raw('i.email')],
        ['role', 'text', sql.raw('i.role')],
        ['expiresAt', 'time', sql.raw('i.expires_at')],
      ]),
      sql.raw('i.created_at, i.id'),
    )}
    from site_invitations i
    where i.site_id = ${at.siteId} and i.accepted_at is null and i.expires_at > ${at.now}
  )`,
});

/** GET people's answer (peopleJsonOf's two arrays): the members, then the pending invitations, as one array. */
export function peopleJsonText({ members, invited }: { members: string; invited: string }): string {
  if (invited === '[]') return members;
  if (members === '[]') return invited;
  return `${members.slice(0, -1)},${invited.slice(1)}`;
}

const peopleJson = preparedPer((db) =>
  db
    .select(peopleJsonOf({ siteId: sql.placeholder('siteId'), now: sql.placeholder('now') }))
    .from(oneRow())
    .prepare('people_json'),
);

/** GET people's answer (peopleJsonText), in one statement. */
export async function listPeopleJson(db: DbOrTx, siteId: string, now: Date): Promise<string> {
  const [row] = await peopleJson(db).execute({ siteId, now: now.toISOString() });
  return peopleJsonText(row!);
}

/** Whether any access method matches every condition. */
async function anyAccessMethod(db: DbOrTx, ...conditions: SQLWrapper[]): Promise<boolean> {
  const [row] = await db
    .select({ id: accessMethods.id })
    .from(accessMethods)
    .where(and(...conditions))
    .limit(1);
  return row !== undefined;
}

export const hasValidAccess = (db: DbOrTx, siteId: string, profileId: string): Promise<boolean> =>
  anyAccessMethod(
    db,
    eq(accessMethods.siteId, siteId),
    eq(accessMethods.profileId, profileId),
    eq(accessMethods.status, 'active'),
  );

export async function setSubscribed(
  db: DbOrTx,
  siteId: string,
  profileId: string,
  subscribed: boolean,
  now: Date,
) {
  await db
    .update(memberships)
    .set({ subscribed, subscribedAt: subscribed ? now : null })
    .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, profileId)));
}

/**
 * V9: a member who just got their first valid access method takes a free user slot of an active
 * site. The caller holds the site lock (`lockSite`) so two grants cannot take the same last slot.
 */
export async function autoSubscribe(
  tx: DbOrTx,
  site: { id: string; subscriptionStatus: string },
  member: { profileId: string; subscribed: boolean },
  now: Date,
): Promise<boolean> {
  if (member.subscribed || site.subscriptionStatus !== 'active') return false;
  const term = await findCurrentTerm(tx, site.id);
  const usage = await slotUsage(tx, site.id);
  if (!term || usage.users >= term.usersLimit) return false;
  await setSubscribed(tx, site.id, member.profileId, true, now);
  return true;
}

/** The member's non-revoked PIN methods on one IQ (normally one). */
export async function pinsOnIq(db: DbOrTx, siteId: string, profileId: string, iqId: string) {
  return db
    .select()
    .from(accessMethods)
    .where(
      and(
        eq(accessMethods.siteId, siteId),
        eq(accessMethods.profileId, profileId),
        eq(accessMethods.kind, 'pin'),
        eq(accessMethods.iqId, iqId),
        ne(accessMethods.status, 'revoked'),
      ),
    );
}

/** Every non-revoked PIN method on one IQ, whoever holds it: the ids and hashes the IQ verifies with. */
export function livePinsOnIq(db: DbOrTx, siteId: string, iqId: string) {
  return db
    .select({ id: accessMethods.id, devicePinHash: accessMethods.devicePinHash })
    .from(accessMethods)
    .where(
      and(
        eq(accessMethods.siteId, siteId),
        eq(accessMethods.kind, 'pin'),
        eq(accessMethods.iqId, iqId),
        ne(accessMethods.status, 'revoked'),
      ),
    );
}

/**
 * Whether a live (not revoked) tag with this UID is an access method at the site, whoever holds it.
 * Letter case aside: a reader may spell the same UID either way.
 */
export const liveTagAt = (db: DbOrTx, siteId: string, tagUid: string): Promise<boolean> =>
  anyAccessMethod(
    db,
    eq(accessMethods.siteId, siteId),
    eq(accessMethods.kind, 'tag'),
    ne(accessMethods.status, 'revoked'),
    sql`lower(${accessMethods.tagUid}) = lower(${tagUid})`,
  );

export async function revokeAccess(db: DbOrTx, ids: string[], now: Date): Promise<void> {
  if (ids.length === 0) return;
  await db
    .update(accessMethods)
    .set({ status: 'revoked', revokedAt: now })
    .where(and(inArray(accessMethods.id, ids), ne(accessMethods.status, 'revoked')));
}

/** S6: every live access method of the member at the site becomes revoked; returns their ids. */
export async function revokeMemberAccess(db: DbOrTx, siteId: string, profileId: string, now: Date) {
  const rows = await db
    .update(accessMethods)
    .set({ status: 'revoked', revokedAt: now })
    .where(
      and(
        eq(accessMethods.siteId, siteId),
        eq(accessMethods.profileId, profileId),
        ne(accessMethods.status, 'revoked'),
      ),
    )
    .returning({ id: accessMethods.id });
  return rows.map((r) => r.id);
}

/** K3: every active PIN on the IQ must be activated again. Returns how many were invalidated. */
export async function invalidatePinsOnIq(db: DbOrTx, iqId: string): Promise<number> {
  const rows = await db
    .update(accessMethods)
    .set({ status: 'needs_activation' })
    .where(
      and(eq(accessMethods.iqId, iqId), eq(accessMethods.kind, 'pin'), eq(accessMethods.status, 'active')),
    )
    .returning({ id: accessMethods.id });
  return rows.length;
}

export async function findAccessMethod(db: DbOrTx, siteId: string, profileId: string, id: string) {
  const [row] = await db
    .select()
    .from(accessMethods)
    .where(
      and(
        eq(accessMethods.id, id),
        eq(accessMethods.siteId, siteId),
        eq(accessMethods.profileId, profileId),
        ne(accessMethods.status, 'revoked'),
      ),
    );
  return row;
}

/**
 * K8: a credential an IQ may name in an event: one of its site's tags or mobile keys, or a PIN on this
 * IQ, whatever its status now (the lock reports what happened with what it held). Undefined for any
 * other id, another site's credential or a remote method: the IQ never held those. Whether this IQ's
 * list ever held it is not asked: the versions it was sent are kept only so far back (RETAINED_VERSIONS),
 * and an IQ that comes back after long offline uploads events of credentials revoked since.
 */
export async function findIqCredential(
  db: DbOrTx,
  iq: { siteId: string; iqId: string },
  credentialId: string,
) {
  const [row] = await db
    .select({ id: accessMethods.id, kind: accessMethods.kind, profileId: accessMethods.profileId })
    .from(accessMethods)
    .where(
      and(
        eq(accessMethods.id, credentialId),
        eq(accessMethods.siteId, iq.siteId),
        or(
          inArray(accessMethods.kind, ['tag', 'mobile_key']),
          and(eq(accessMethods.kind, 'pin'), eq(accessMethods.iqId, iq.iqId)),
        ),
      ),
    );
  return row;
}
