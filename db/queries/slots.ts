import { and, eq, sql } from 'drizzle-orm';
import { slotFillOrder, trimToLimits } from '../../domain/subscription';
import type { DbOrTx } from '../client';
import { rawStatement } from '../prepared';
import { iqs, memberships } from '../schema';
import { uuidArray, uuidArrayText } from './sql-arrays';

interface Limits {
  usersLimit: number;
  iqsLimit: number;
}

interface Candidate {
  profile_id: string | null;
  role: 'owner' | 'admin' | 'user';
  joined_at: Date | string;
  has_valid_access: boolean;
  iq_id: string | null;
  registered_at: Date | string;
}

// The members and the IQs in one read, the flags of both in one write (issue 15: two of each).
const candidatesStatement = rawStatement<{ siteId: string }, Candidate>(
  (v) => sql`
    select m.profile_id, m.role, m.joined_at,
      exists (select 1 from access_methods am where am.site_id = m.site_id
        and am.profile_id = m.profile_id and am.status = 'active') as has_valid_access,
      null::uuid as iq_id, null::timestamptz as registered_at
    from memberships m where m.site_id = ${v('siteId')}::uuid
    union all
    select null, null, null, null, i.id, i.registered_at from iqs i where i.site_id = ${v('siteId')}::uuid`,
);

const flagsStatement = rawStatement<{ siteId: string; memberIds: string; iqIds: string; at: string }>(
  (v) => sql`
    with members as (
      update memberships set subscribed = profile_id = any(${v('memberIds')}::uuid[]),
        subscribed_at = case when profile_id = any(${v('memberIds')}::uuid[]) then ${v('at')}::timestamptz end
      where site_id = ${v('siteId')}::uuid)
    update iqs set subscribed = id = any(${v('iqIds')}::uuid[]),
      subscribed_at = case when id = any(${v('iqIds')}::uuid[]) then ${v('at')}::timestamptz end
    where site_id = ${v('siteId')}::uuid`,
);

/**
 * V10, a term after none or after expiry: slots fill up to the limits in the decided order. Two
 * statements whatever the size of the site.
 */
export async function fillSlots(tx: DbOrTx, siteId: string, limits: Limits, now: Date) {
  const candidates = await candidatesStatement(tx, { siteId });
  const chosen = slotFillOrder({
    ...limits,
    members: candidates
      .filter((c) => c.profile_id !== null)
      .map((m) => ({
        profileId: m.profile_id!,
        role: m.role,
        hasValidAccess: m.has_valid_access,
        joinedAtMs: new Date(m.joined_at).getTime(),
      })),
    iqs: candidates
      .filter((c) => c.iq_id !== null)
      .map((d) => ({ iqId: d.iq_id!, registeredAtMs: new Date(d.registered_at).getTime() })),
  });
  await flagsStatement(tx, {
    siteId,
    memberIds: uuidArrayText(chosen.memberIds),
    iqIds: uuidArrayText(chosen.iqIds),
    at: now.toISOString(),
  });
  return { users: chosen.memberIds.length, iqs: chosen.iqIds.length };
}

/** V10, a term replacing an active one: current flags stay; lower limits drop the most recent, never the owner. */
export async function trimSlots(tx: DbOrTx, siteId: string, limits: Limits) {
  const subscribedMembers = await tx
    .select({
      profileId: memberships.profileId,
      role: memberships.role,
      joinedAt: memberships.joinedAt,
      subscribedAt: memberships.subscribedAt,
    })
    .from(memberships)
    .where(and(eq(memberships.siteId, siteId), eq(memberships.subscribed, true)));
  const subscribedIqs = await tx
    .select({ iqId: iqs.id, registeredAt: iqs.registeredAt, subscribedAt: iqs.subscribedAt })
    .from(iqs)
    .where(and(eq(iqs.siteId, siteId), eq(iqs.subscribed, true)));
  const drop = trimToLimits({
    ...limits,
    subscribedMembers: subscribedMembers.map((m) => ({
      profileId: m.profileId,
      role: m.role,
      joinedAtMs: m.joinedAt.getTime(),
      subscribedAtMs: m.subscribedAt?.getTime() ?? 0,
    })),
    subscribedIqs: subscribedIqs.map((d) => ({
      iqId: d.iqId,
      registeredAtMs: d.registeredAt.getTime(),
      subscribedAtMs: d.subscribedAt?.getTime() ?? 0,
    })),
  });
  if (drop.unsubscribeMemberIds.length > 0) {
    await tx
      .update(memberships)
      .set({ subscribed: false, subscribedAt: null })
      .where(
        and(eq(memberships.siteId, siteId), inArraySql(memberships.profileId, drop.unsubscribeMemberIds)),
      );
  }
  if (drop.unsubscribeIqIds.length > 0) {
    await tx
      .update(iqs)
      .set({ subscribed: false, subscribedAt: null })
      .where(and(eq(iqs.siteId, siteId), inArraySql(iqs.id, drop.unsubscribeIqIds)));
  }
  return drop;
}

/** V6: every IQ and member of the site loses its slot; access methods stay untouched. */
export async function unsubscribeEverything(tx: DbOrTx, siteId: string) {
  await tx
    .update(memberships)
    .set({ subscribed: false, subscribedAt: null })
    .where(eq(memberships.siteId, siteId));
  await tx.update(iqs).set({ subscribed: false, subscribedAt: null }).where(eq(iqs.siteId, siteId));
}

// `= any($1::uuid[])` keeps one statement for any number of ids (an IN list would grow the SQL text).
function inArraySql(column: typeof memberships.profileId | typeof iqs.id, ids: string[]) {
  return sql<boolean>`${column} = any(${uuidArray(ids)})`;
}
