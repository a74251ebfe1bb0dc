import type { Db, DbOrTx } from '../db/client';
import { consumeToken, issueEmailToken } from '../db/queries/email-tokens';
import { recordEvent } from '../db/queries/events';
import { acceptInvitations, insertInvitation } from '../db/queries/invitations';
import { findProfileByEmail, findProfileById, insertProfile } from '../db/queries/profiles';
import type { SiteRole } from '../db/schema/sites';
import { Refusal } from '../domain/reasons';
import { type Mailing, sendOrRefuse } from './mail';

export const INVITATION_TTL_MS = 7 * 86_400_000;

/**
 * Invites an email that has no profile to a site (A2, S6): an open invitation row, a single-use
 * link and its email, all in the caller's transaction. Refused `already_invited` while one is open.
 */
export async function inviteToSite(
  tx: DbOrTx,
  mailing: Mailing,
  input: { site: { id: string; name: string }; email: string; role: SiteRole; inviterId: string; now: Date },
) {
  const invitation = await insertInvitation(tx, {
    siteId: input.site.id,
    email: input.email,
    role: input.role,
    invitedBy: input.inviterId,
  });
  if (!invitation) throw new Refusal('already_invited');
  const token = await issueEmailToken(tx, {
    kind: 'invitation',
    email: invitation.email,
    ttlMs: INVITATION_TTL_MS,
    now: input.now,
  });
  const inviter = await findProfileById(tx, input.inviterId);
  await sendOrRefuse(mailing.mailer, {
    to: invitation.email,
    template: 'invitation',
    props: {
      siteName: input.site.name,
      role: input.role,
      inviterName: inviter?.name ?? 'KS Cloud',
      acceptUrl: new URL(`/invitations/${token}`, mailing.publicBaseUrl).toString(),
    },
    idempotencyKey: `invitation:${invitation.id}`,
  });
  // The event names the role, never the email (no personal data in the audit trail).
  await recordEvent(tx, {
    siteId: input.site.id,
    at: input.now,
    type: 'member.invited',
    actorProfileId: input.inviterId,
    data: { invitationId: invitation.id, role: input.role },
  });
  return invitation;
}

/**
 * Accepts an invitation link (A2, S7): the link is used once; a new email gets a confirmed profile
 * with the name and password given, an email that signed up meanwhile keeps its account; either way
 * the profile joins every site that invited the email. `gone` when another request used the link.
 */
export function acceptInvitation(
  db: Db,
  input: { tokenId: string; email: string; name: string; passwordHash: string; now: Date },
): Promise<'gone' | 'joined' | 'created'> {
  return db.transaction(async (tx) => {
    const { email, now } = input;
    if (!(await consumeToken(tx, input.tokenId, now))) return 'gone';
    // Someone who signed up meanwhile keeps their account and password; the link proves the email.
    const existing = await findProfileByEmail(tx, email);
    const profile =
      existing ??
      (await insertProfile(tx, {
        email,
        name: input.name,
        passwordHash: input.passwordHash,
        emailConfirmedAt: now,
      }));
    if (!profile) throw new Error('invited profile could not be created');
    for (const siteId of await acceptInvitations(tx, email, profile.id, now)) {
      await recordEvent(tx, {
        siteId,
        at: now,
        type: 'member.joined',
        actorProfileId: profile.id,
        subjectProfileId: profile.id,
      });
    }
    return existing ? 'joined' : 'created';
  });
}
