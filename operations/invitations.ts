import { randomUUID } from 'node:crypto';
import type { Db, DbOrTx } from '../db/client';
import { recordEvent } from '../db/queries/events';
import {
  deleteExpiredInvitations,
  deleteInvitation,
  deleteOpenInvitationsBy,
  findInvitationByToken,
  hasPendingOwnerInvitation,
  insertInvitation,
  isMemberByEmail,
  lockOpenInvitation,
  markInvitationAccepted,
} from '../db/queries/invitations';
import { findMembership } from '../db/queries/memberships';
import { claimUnconfirmedProfile, findProfileById, insertProfile } from '../db/queries/profiles';
import { deleteSessionsOfProfile } from '../db/queries/sessions';
import { findSiteOwner, type Site } from '../db/queries/sites';
import { lockSite } from '../db/queries/subscriptions';
import { memberships } from '../db/schema';
import type { SiteRole } from '../db/schema/sites';
import { publicLink } from '../domain/public-link';
import { Refusal } from '../domain/reasons';
import { newToken } from '../domain/secrets';
import type { SiteActor } from '../domain/site-roles';
import { formatSiteDate } from '../emails/format';
import { type Mailing, sendOrRefuse } from './mail';
import { lockSiteAs } from './site-lock';

/** S7: a pending invitation expires after 14 days. */
export const INVITATION_TTL_MS = 14 * 86_400_000;

export interface SentInvitation {
  invitationId: string;
  email: string;
  role: SiteRole;
  expiresAt: Date;
}

/** An invitation's id and single-use link, made before its transaction (inviteToSite). */
export interface InvitationLink {
  id: string;
  token: string;
  hash: string;
}

export const newInvitationLink = (): InvitationLink => ({ id: randomUUID(), ...newToken() });

/**
 * Invites an email to a site (S7, A2): a pending invitation with its own single-use link, and its
 * email, in the caller's transaction. The same work whether or not the email has a profile, so the
 * answer tells nothing about it; no membership, slot or access method comes of it until the person
 * accepts. Refused `already_member` / `already_invited`. The id and the link come made (`link`): a
 * transaction that PostgreSQL ends after the email went out runs again (db/client.ts) and sends the
 * same email under the same key, which the provider drops, instead of a second one whose first
 * link would be dead.
 */
export async function inviteToSite(
  tx: DbOrTx,
  mailing: Mailing,
  input: {
    /** A sandbox site's invitation says so, with the site's time (O2), as its other emails do. */
    site: { id: string; name: string } & Partial<Pick<Site, 'sandbox' | 'clockOffsetSeconds' | 'timezone'>>;
    email: string;
    role: SiteRole;
    inviterId: string;
    now: Date;
    link: InvitationLink;
  },
): Promise<SentInvitation> {
  const { site, role, now, link } = input;
  if (await isMemberByEmail(tx, site.id, input.email)) throw new Refusal('already_member');
  await deleteExpiredInvitations(tx, site.id, now, input.email);
  const expiresAt = new Date(now.getTime() + INVITATION_TTL_MS);
  const invitation = await insertInvitation(tx, {
    id: link.id,
    siteId: site.id,
    email: input.email,
    role,
    invitedBy: input.inviterId,
    tokenHash: link.hash,
    createdAt: now,
    expiresAt,
  });
  if (!invitation) throw new Refusal('already_invited');
  const inviter = await findProfileById(tx, input.inviterId);
  await sendOrRefuse(
    mailing.mailer,
    {
      to: invitation.email,
      template: 'invitation',
      props: {
        siteName: site.name,
        role,
        inviterName: inviter?.name ?? 'KS Cloud',
        acceptUrl: publicLink(mailing.publicBaseUrl, `/invitations/${link.token}`),
        expiresAt: expiresAt.toISOString(),
        ...(site.sandbox
          ? {
              sandbox: {
                siteTime: formatSiteDate(
                  new Date(now.getTime() + (site.clockOffsetSeconds ?? 0) * 1000),
                  site.timezone ?? 'UTC',
                ),
              },
            }
          : {}),
      },
      idempotencyKey: `invitation:${invitation.id}`,
    },
    tx,
  );
  // The event names the role, never the email (no personal data in the audit trail).
  await recordEvent(tx, {
    siteId: site.id,
    at: now,
    type: 'member.invited',
    actorProfileId: input.inviterId,
    data: { invitationId: invitation.id, role },
  });
  return { invitationId: invitation.id, email: invitation.email, role, expiresAt };
}

/**
 * A2: the owner's invitation of an installer's site, sent again or to a corrected address: only by
 * the installer, before release, while the site has no owner and no pending owner invitation.
 */
export async function assertOwnerInvitationAllowed(
  tx: DbOrTx,
  input: { siteId: string; actorRole: string; now: Date },
) {
  if (input.actorRole !== 'installer') {
    throw new Refusal(
      'forbidden',
      'Only the installer invites the owner of a site; owners transfer ownership.',
    );
  }
  if (
    (await findSiteOwner(tx, input.siteId)) ||
    (await hasPendingOwnerInvitation(tx, input.siteId, input.now))
  ) {
    throw new Refusal('site_has_owner');
  }
}

/**
 * Withdraws a pending (or expired) invitation: it goes, and its link answers 410 from now on. The
 * owner's invitation is the installer's to withdraw (A2).
 */
export function withdrawInvitation(
  db: Db,
  input: { siteId: string; invitationId: string; actor: SiteActor; now: Date },
): Promise<void> {
  const { siteId, now } = input;
  return db.transaction(async (tx) => {
    const { site, role: actorRole } = await lockSiteAs(tx, siteId, input.actor);
    const invitation = await lockOpenInvitation(tx, siteId, input.invitationId);
    if (!invitation) throw new Refusal('not_found', 'No such invitation.');
    if (invitation.role === 'owner' && actorRole !== 'installer') {
      throw new Refusal('forbidden', 'Only the installer withdraws the owner’s invitation.');
    }
    // V7: like any change of people it needs a valid subscription, but the owner's invitation is part
    // of the hand-over (installation work), which a site that never had a term takes.
    const installing = invitation.role === 'owner' && site.subscriptionStatus === 'none';
    if (site.subscriptionStatus !== 'active' && !installing) throw new Refusal('no_valid_subscription');
    await deleteInvitation(tx, invitation.id);
    await recordEvent(tx, {
      siteId,
      at: now,
      type: 'member.invitation_withdrawn',
      actorProfileId: input.actor.id,
      data: { invitationId: invitation.id, role: invitation.role },
    });
  });
}

/**
 * S7: the pending invitations `inviterId` sent at the site go when their right to send them ends (an
 * admin demoted to user, removed or leaving; the installer releasing the site): the site's people are
 * chosen by those it lets choose now, and a pending admin invitation would otherwise make an admin no
 * current owner or admin chose. The installer of a site not yet released still invites as such (S1).
 * In the caller's transaction, which holds the site's lock; each withdrawal is recorded.
 */
export async function withdrawInvitationsOfLostRight(
  tx: DbOrTx,
  input: {
    site: Pick<Site, 'id' | 'installerProfileId' | 'releasedAt'>;
    inviterId: string;
    actorId: string;
    now: Date;
  },
): Promise<void> {
  const { site, inviterId } = input;
  if (site.installerProfileId === inviterId && site.releasedAt === null) return;
  for (const { id, role } of await deleteOpenInvitationsBy(tx, site.id, inviterId)) {
    await recordEvent(tx, {
      siteId: site.id,
      at: input.now,
      type: 'member.invitation_withdrawn',
      actorProfileId: input.actorId,
      data: { invitationId: id, role, reason: 'inviter_lost_right' },
    });
  }
}

export type InvitationView = NonNullable<Awaited<ReturnType<typeof findInvitationByToken>>>;

/**
 * The email's confirmed account; undefined when accepting asks for a name and a password: the email
 * has no account yet, or one signed up and never confirmed, which becomes the invited person's (the
 * link proves the address).
 */
export const confirmedAccountOf = (view: Pick<InvitationView, 'profileId' | 'accountConfirmedAt'>) =>
  view.accountConfirmedAt === null ? undefined : (view.profileId ?? undefined);

/** What the invitation page shows; undefined for a used, withdrawn, expired or unknown link. */
export const usableInvitation = (db: DbOrTx, token: string, now: Date) =>
  findInvitationByToken(db, token, now);

export type AcceptOutcome =
  | { kind: 'gone' }
  /** The email has no profile (any more): the form must name a name and password. */
  | { kind: 'needs_account' }
  | { kind: 'joined' | 'created' | 'already_member'; siteName: string; email: string; role: SiteRole };

/**
 * Accepts an invitation (S7, A2): its link is spent, and the person joins that one site with the
 * invited role (an owner with the master key). An email without a profile gets a confirmed profile
 * with the name and password given (the link proves the address); a profile keeps its account.
 * Joining holds no slot and no access method until a manager grants one (V9).
 */
export function acceptInvitation(
  db: Db,
  input: { token: string; account?: { name: string; passwordHash: string } | undefined; now: Date },
): Promise<AcceptOutcome> {
  const { now } = input;
  return db.transaction(async (tx): Promise<AcceptOutcome> => {
    const seen = await findInvitationByToken(tx, input.token, now);
    if (!seen) return { kind: 'gone' };
    // Site first, then the invitation (the order of every change of a site's people): the join is
    // ordered after any withdrawal, removal or release in flight, which it then sees.
    await lockSite(tx, seen.invitation.siteId);
    const found = await findInvitationByToken(tx, input.token, now, true);
    if (!found) return { kind: 'gone' };
    const { invitation } = found;
    let profileId = confirmedAccountOf(found);
    let created = false;
    if (!profileId) {
      if (!input.account) return { kind: 'needs_account' };
      const account = { ...input.account, emailConfirmedAt: now };
      if (found.profileId) {
        // Signed up and never confirmed: whoever signed up did not prove the address, this link does
        // (A1). The profile becomes the invited person's, with their name and password; the sign-up's
        // password no longer opens it, and any session it had ends.
        profileId = found.profileId;
        if (!(await claimUnconfirmedProfile(tx, profileId, account))) return { kind: 'needs_account' };
        await deleteSessionsOfProfile(tx, profileId);
      } else {
        const profile = await insertProfile(tx, { email: invitation.email, ...account });
        // A sign-up of the same email committed meanwhile: ask again.
        if (!profile) return { kind: 'needs_account' };
        profileId = profile.id;
      }
      created = true;
    }
    const outcome = { siteName: found.siteName, email: invitation.email, role: invitation.role };
    await markInvitationAccepted(tx, invitation.id, now);
    if (await findMembership(tx, invitation.siteId, profileId)) return { kind: 'already_member', ...outcome };
    if (invitation.role === 'owner' && (await findSiteOwner(tx, invitation.siteId))) return { kind: 'gone' };
    await tx.insert(memberships).values({
      siteId: invitation.siteId,
      profileId,
      role: invitation.role,
      masterKey: invitation.role === 'owner',
      joinedAt: now,
    });
    await recordEvent(tx, {
      siteId: invitation.siteId,
      at: now,
      type: 'member.joined',
      actorProfileId: profileId,
      subjectProfileId: profileId,
      data: { invitationId: invitation.id, role: invitation.role },
    });
    return { kind: created ? 'created' : 'joined', ...outcome };
  });
}
