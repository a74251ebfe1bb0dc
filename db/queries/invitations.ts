import { and, eq, isNull } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { emailTokens, memberships, siteInvitations, sites } from '../schema';
import type { SiteRole } from '../schema/sites';
import { normalizeEmail } from './profiles';

/** An open invitation row; undefined when that email already has an open one at the site. */
export async function insertInvitation(
  db: DbOrTx,
  values: { siteId: string; email: string; role: SiteRole; invitedBy: string },
) {
  const [row] = await db
    .insert(siteInvitations)
    .values({ ...values, email: normalizeEmail(values.email) })
    .onConflictDoNothing()
    .returning();
  return row;
}

export async function findOpenInvitation(db: DbOrTx, siteId: string, email: string) {
  const [row] = await db
    .select()
    .from(siteInvitations)
    .where(
      and(
        eq(siteInvitations.siteId, siteId),
        eq(siteInvitations.email, normalizeEmail(email)),
        isNull(siteInvitations.acceptedAt),
      ),
    );
  return row;
}

/**
 * A2, S6: every open invitation of the email becomes a membership of the profile (an owner
 * invitation brings the master key). Returns the site ids joined.
 */
export async function acceptInvitations(db: DbOrTx, email: string, profileId: string, now: Date) {
  const accepted = await db
    .update(siteInvitations)
    .set({ acceptedAt: now })
    .where(and(eq(siteInvitations.email, normalizeEmail(email)), isNull(siteInvitations.acceptedAt)))
    .returning({ siteId: siteInvitations.siteId, role: siteInvitations.role });
  if (accepted.length > 0) {
    await db
      .insert(memberships)
      .values(
        accepted.map((a) => ({ siteId: a.siteId, profileId, role: a.role, masterKey: a.role === 'owner' })),
      )
      .onConflictDoNothing();
  }
  // Every other invitation link of this email dies: the profile exists now.
  await db
    .update(emailTokens)
    .set({ usedAt: now })
    .where(
      and(
        eq(emailTokens.email, normalizeEmail(email)),
        eq(emailTokens.kind, 'invitation'),
        isNull(emailTokens.usedAt),
      ),
    );
  return accepted.map((a) => a.siteId);
}

/** Names of the sites an invitation token's email was invited to, for the invitation page. */
export async function invitedSiteNames(db: DbOrTx, email: string): Promise<string[]> {
  const rows = await db
    .select({ name: sites.name })
    .from(siteInvitations)
    .innerJoin(sites, eq(sites.id, siteInvitations.siteId))
    .where(and(eq(siteInvitations.email, normalizeEmail(email)), isNull(siteInvitations.acceptedAt)));
  return rows.map((r) => r.name);
}
