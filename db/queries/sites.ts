import { and, desc, eq, isNull } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { memberships, profiles, siteInvitations, sites } from '../schema';

export type Site = typeof sites.$inferSelect;

export async function findSite(db: DbOrTx, siteId: string): Promise<Site | undefined> {
  const [row] = await db.select().from(sites).where(eq(sites.id, siteId));
  return row;
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

/**
 * Where admin emails go (S5): the owner's address; while the owner an installer named has not
 * joined yet, the address of the open owner invitation (the one the owner must sign up with, A2).
 * Undefined for a site with neither.
 */
export async function findSiteOwnerAddress(db: DbOrTx, siteId: string): Promise<string | undefined> {
  const owner = await findSiteOwner(db, siteId);
  if (owner) return owner.email;
  const [invitation] = await db
    .select({ email: siteInvitations.email })
    .from(siteInvitations)
    .where(
      and(
        eq(siteInvitations.siteId, siteId),
        eq(siteInvitations.role, 'owner'),
        isNull(siteInvitations.acceptedAt),
      ),
    )
    .orderBy(desc(siteInvitations.createdAt))
    .limit(1);
  return invitation?.email;
}
