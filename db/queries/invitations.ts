import { and, eq, gt, isNull, lte, sql } from 'drizzle-orm';
import { hashToken } from '../../domain/secrets';
import type { DbOrTx } from '../client';
import { memberships, profiles, siteInvitations, sites } from '../schema';
import type { SiteRole } from '../schema/sites';
import { normalizeEmail } from './profiles';

export type Invitation = typeof siteInvitations.$inferSelect;

/** A pending invitation row; undefined when that email already has an open one at the site. */
export async function insertInvitation(
  db: DbOrTx,
  values: {
    id: string;
    siteId: string;
    email: string;
    role: SiteRole;
    invitedBy: string;
    tokenHash: string;
    createdAt: Date;
    expiresAt: Date;
  },
) {
  const [row] = await db
    .insert(siteInvitations)
    .values({ ...values, email: normalizeEmail(values.email) })
    .onConflictDoNothing()
    .returning();
  return row;
}

/** Expired invitations of the site (of one email, if given) go: they hold an address for nothing. */
export async function deleteExpiredInvitations(db: DbOrTx, siteId: string, now: Date, email?: string) {
  await db
    .delete(siteInvitations)
    .where(
      and(
        eq(siteInvitations.siteId, siteId),
        isNull(siteInvitations.acceptedAt),
        lte(siteInvitations.expiresAt, now),
        email === undefined ? undefined : eq(siteInvitations.email, normalizeEmail(email)),
      ),
    );
}

const pending = (now: Date) => and(isNull(siteInvitations.acceptedAt), gt(siteInvitations.expiresAt, now));

/** A pending invitation of the site (not accepted; expired or not), locked for the change. */
export async function lockOpenInvitation(db: DbOrTx, siteId: string, invitationId: string) {
  const [row] = await db
    .select()
    .from(siteInvitations)
    .where(
      and(
        eq(siteInvitations.id, invitationId),
        eq(siteInvitations.siteId, siteId),
        isNull(siteInvitations.acceptedAt),
      ),
    )
    .for('update');
  return row;
}

export async function deleteInvitation(db: DbOrTx, id: string) {
  await db.delete(siteInvitations).where(eq(siteInvitations.id, id));
}

/** Pending invitations of the site addressed to this email (S1: the installer's own, at release). */
export async function deleteOpenInvitationsTo(db: DbOrTx, siteId: string, email: string) {
  return db
    .delete(siteInvitations)
    .where(
      and(
        eq(siteInvitations.siteId, siteId),
        eq(siteInvitations.email, normalizeEmail(email)),
        isNull(siteInvitations.acceptedAt),
      ),
    )
    .returning({ id: siteInvitations.id });
}

/** Pending invitations of the site sent by this profile (S7: when their right to send them ends). */
export async function deleteOpenInvitationsBy(db: DbOrTx, siteId: string, inviterId: string) {
  return db
    .delete(siteInvitations)
    .where(
      and(
        eq(siteInvitations.siteId, siteId),
        eq(siteInvitations.invitedBy, inviterId),
        isNull(siteInvitations.acceptedAt),
      ),
    )
    .returning({ id: siteInvitations.id, role: siteInvitations.role });
}

/** Whether the site has a pending owner invitation (A2: one owner invitation at a time). */
export async function hasPendingOwnerInvitation(db: DbOrTx, siteId: string, now: Date) {
  const [row] = await db
    .select({ id: siteInvitations.id })
    .from(siteInvitations)
    .where(and(eq(siteInvitations.siteId, siteId), eq(siteInvitations.role, 'owner'), pending(now)))
    .limit(1);
  return row !== undefined;
}

/**
 * What the invitation page shows of a usable link: the invitation, its site, who sent it and whether
 * the email has a profile yet. Undefined for a link that was used, withdrawn, has expired or never
 * existed. `lock` takes the invitation's row lock (accepting).
 */
export async function findInvitationByToken(db: DbOrTx, token: string, now: Date, lock = false) {
  const inviter = sql<
    string | null
  >`(select p.name from profiles p where p.id = ${siteInvitations.invitedBy})`;
  const query = db
    .select({
      invitation: siteInvitations,
      siteName: sites.name,
      siteTimezone: sites.timezone,
      inviterName: inviter,
      profileId: profiles.id,
      /** Null for an email without a profile, or with one signed up and never confirmed. */
      accountConfirmedAt: profiles.emailConfirmedAt,
    })
    .from(siteInvitations)
    .innerJoin(sites, eq(sites.id, siteInvitations.siteId))
    .leftJoin(profiles, eq(profiles.email, siteInvitations.email))
    .where(and(eq(siteInvitations.tokenHash, hashToken(token)), pending(now)));
  const [row] = await (lock ? query.for('update', { of: siteInvitations }) : query);
  return row;
}

/** Marks the invitation accepted; its link is spent. */
export async function markInvitationAccepted(db: DbOrTx, id: string, now: Date) {
  await db
    .update(siteInvitations)
    .set({ acceptedAt: now, tokenHash: null })
    .where(eq(siteInvitations.id, id));
}

/** Whether a profile with this email is a member of the site. */
export async function isMemberByEmail(db: DbOrTx, siteId: string, email: string) {
  const [row] = await db
    .select({ id: memberships.profileId })
    .from(memberships)
    .innerJoin(profiles, eq(profiles.id, memberships.profileId))
    .where(and(eq(memberships.siteId, siteId), eq(profiles.email, normalizeEmail(email))));
  return row !== undefined;
}
