import { and, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { preparedPer } from '../prepared';
import { memberships, sites } from '../schema';

export type Membership = typeof memberships.$inferSelect;

export async function findMembership(
  db: DbOrTx,
  siteId: string,
  profileId: string,
): Promise<Membership | undefined> {
  const [row] = await db
    .select()
    .from(memberships)
    .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, profileId)));
  return row;
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

/** The caller's sites with their role in each, for /me and GET /sites. */
export function listMembershipsOfProfile(db: DbOrTx, profileId: string) {
  return membershipsOfProfile(db).execute({ profileId });
}
