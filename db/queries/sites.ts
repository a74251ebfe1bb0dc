import { and, eq, isNull, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { rawStatement } from '../prepared';
import { memberships, profiles, sites } from '../schema';

export type Site = typeof sites.$inferSelect;

/**
 * What a request at a site reads of it with the caller's session (db/queries/sessions.ts): what site
 * access decides on and what the routes answer or email (its name, time zone, sandbox clock), not the
 * notification choice, subscription version or creation time (issue 15: each column read is
 * PostgreSQL's output and the API's parsing, on every request at a site).
 */
export const siteFactsColumns = {
  id: sites.id,
  name: sites.name,
  timezone: sites.timezone,
  status: sites.status,
  installerProfileId: sites.installerProfileId,
  sandbox: sites.sandbox,
  clockOffsetSeconds: sites.clockOffsetSeconds,
  subscriptionStatus: sites.subscriptionStatus,
  releasedAt: sites.releasedAt,
};
export type SiteFacts = Pick<Site, keyof typeof siteFactsColumns>;

export async function findSite(db: DbOrTx, siteId: string): Promise<Site | undefined> {
  const [row] = await db.select().from(sites).where(eq(sites.id, siteId));
  return row;
}

/** setNotificationChoice's statement, built once (issue 15). */
const notificationChoiceStatement = rawStatement<{
  siteId: string;
  eventTypes: string[];
  actorId: string;
  at: string;
}>(
  (v) => sql`
    with chosen as (
      update sites set notify_event_types = ${v('eventTypes')}::text[]
      where id = ${v('siteId')}::uuid
      returning id
    )
    insert into events (site_id, at, type, actor_profile_id, data)
    select id, ${v('at')}::timestamptz, 'site.notifications_changed', ${v('actorId')}::uuid,
      jsonb_build_object('eventTypes', ${v('eventTypes')}::text[])
    from chosen`,
);

/**
 * K6: the event types that email the owner, replacing the previous choice, and the
 * `site.notifications_changed` event that records it, in one statement: both rows commit together,
 * in one round trip (issue 15: the transaction of two statements was four).
 */
export async function setNotificationChoice(
  db: DbOrTx,
  input: { siteId: string; eventTypes: string[]; actorId: string; now: Date },
): Promise<void> {
  await notificationChoiceStatement(db, {
    siteId: input.siteId,
    eventTypes: input.eventTypes,
    actorId: input.actorId,
    at: input.now.toISOString(),
  });
}

/** Where admin emails go (S5): the owner's address. Undefined while an invited owner has no profile. */
export async function findSiteOwner(db: DbOrTx, siteId: string) {
  const [row] = await db
    .select({ profileId: profiles.id, email: profiles.email, name: profiles.name })
    .from(memberships)
    .innerJoin(profiles, eq(profiles.id, memberships.profileId))
    .where(and(eq(memberships.siteId, siteId), eq(memberships.role, 'owner')));
  return row;
}

/** The profile's sites: where it is a member (with its role), and those it installs, not yet released. */
export async function listSitesOfProfile(db: DbOrTx, profileId: string) {
  const member = await db
    .select({ site: sites, role: memberships.role })
    .from(memberships)
    .innerJoin(sites, eq(sites.id, memberships.siteId))
    .where(eq(memberships.profileId, profileId))
    .orderBy(sites.name);
  const installing = await db
    .select()
    .from(sites)
    .where(and(eq(sites.installerProfileId, profileId), isNull(sites.releasedAt)))
    .orderBy(sites.name);
  return { member, installing };
}
