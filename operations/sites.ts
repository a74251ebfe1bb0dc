import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { sentConsentLinksOfSite, setConsentToken } from '../db/queries/deletions';
import { recordEvent } from '../db/queries/events';
import { deleteOpenInvitationsTo } from '../db/queries/invitations';
import { findMembership } from '../db/queries/memberships';
import { findProfileById, type Profile } from '../db/queries/profiles';
import { findSiteOwner, type Site, setNotificationChoice } from '../db/queries/sites';
import { lockSite } from '../db/queries/subscriptions';
import { memberships, sites } from '../db/schema';
import { publicLink } from '../domain/public-link';
import { Refusal } from '../domain/reasons';
import { newToken } from '../domain/secrets';
import type { SiteActor } from '../domain/site-roles';
import { formatSiteDate } from '../emails/format';
import { inviteToSite, newInvitationLink, withdrawInvitationsOfLostRight } from './invitations';
import { type Mailing, sendOrRefuse } from './mail';
import { endMembership } from './members';
import { lockSiteAs } from './site-lock';

/**
 * A new site (A2, S1, O2). An installer's site stays `installing` until released; support's sandbox
 * site has its own test clock. Both invite the owner they name (S7: whether or not that email has a
 * profile, they become the owner only by accepting); anyone else's site is their own.
 */
export function createSite(
  db: Db,
  mailing: Mailing,
  input: {
    name: string;
    timezone: string;
    creator: Pick<Profile, 'id'>;
    /** Whose site it will be when the creator does not keep it: the owner's email, invited. */
    for?: { kind: 'installer' | 'sandbox'; ownerEmail: string } | undefined;
    now: Date;
  },
): Promise<Site> {
  const { creator, now } = input;
  const invited = input.for;
  const installing = invited?.kind === 'installer';
  const link = newInvitationLink();
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(sites)
      .values({
        name: input.name,
        timezone: input.timezone,
        status: installing ? 'installing' : 'active',
        installerProfileId: installing ? creator.id : null,
        sandbox: invited?.kind === 'sandbox',
        createdAt: now,
      })
      .returning();
    if (!row) throw new Error('site insert returned nothing');
    if (invited === undefined) {
      await tx
        .insert(memberships)
        .values({ siteId: row.id, profileId: creator.id, role: 'owner', masterKey: true, joinedAt: now });
    } else {
      await inviteToSite(tx, mailing, {
        site: row,
        email: invited.ownerEmail,
        role: 'owner',
        inviterId: creator.id,
        now,
        link,
      });
    }
    await recordEvent(tx, {
      siteId: row.id,
      at: now,
      type: 'site.created',
      actorProfileId: creator.id,
      subjectProfileId: invited === undefined ? creator.id : null,
    });
    return row;
  });
}

/**
 * S1: the installer hands the site over, once its owner has joined. The installer keeps nothing
 * there: a membership they hold ends with every access method (the IQs' lists follow, K7), and
 * invitations to their email and those they sent are withdrawn, all in the release's transaction. A released site is
 * not found for its former installer.
 */
export function releaseSite(
  db: Db,
  input: { siteId: string; installerId: string; now: Date },
): Promise<{ site: Site; deletionRequestIds: string[] }> {
  const { siteId, installerId, now } = input;
  return db.transaction(async (tx) => {
    const locked = await lockSite(tx, siteId);
    if (!locked || locked.releasedAt || locked.installerProfileId !== installerId) {
      throw new Refusal('not_found', 'No such site.');
    }
    const owner = await findSiteOwner(tx, siteId);
    if (!owner) throw new Refusal('owner_not_joined');
    if (owner.profileId === installerId) {
      throw new Refusal(
        'owner_not_joined',
        'You own this site yourself; transfer ownership to its owner before releasing it.',
      );
    }
    const [row] = await tx
      .update(sites)
      .set({ releasedAt: now, status: 'active' })
      .where(eq(sites.id, siteId))
      .returning();
    await recordEvent(tx, { siteId, at: now, type: 'site.released', actorProfileId: installerId });
    let deletionRequestIds: string[] = [];
    if (await findMembership(tx, siteId, installerId)) {
      deletionRequestIds = await endMembership(tx, {
        site: row!,
        profileId: installerId,
        type: 'member.released',
        actorId: installerId,
        now,
      });
    } else {
      await withdrawInvitationsOfLostRight(tx, {
        site: row!,
        inviterId: installerId,
        actorId: installerId,
        now,
      });
    }
    const installer = await findProfileById(tx, installerId);
    for (const { id } of installer ? await deleteOpenInvitationsTo(tx, siteId, installer.email) : []) {
      await recordEvent(tx, {
        siteId,
        at: now,
        type: 'member.invitation_withdrawn',
        actorProfileId: installerId,
        data: { invitationId: id, reason: 'released' },
      });
    }
    return { site: row!, deletionRequestIds };
  });
}

/**
 * S3: the owner hands the site to an admin: the old owner becomes admin without the master key, the
 * new owner holds it; both are emailed (without the emails, nothing changes). D2: the site's owner
 * answers for it, so the deletion consent links the former owner was sent die, and the new owner is
 * sent their own, expiring when those did.
 */
export function transferOwnership(
  db: Db,
  mailing: Mailing,
  input: { site: Pick<Site, 'id' | 'name'>; ownerId: string; profileId: string; now: Date },
): Promise<void> {
  const { site, ownerId, profileId, now } = input;
  const siteId = site.id;
  return db.transaction(async (tx) => {
    await lockSite(tx, siteId);
    // Read under the site's lock, as the target is: a transfer that committed meanwhile (the caller's
    // own, sent twice at once) has made the caller an admin, who may not transfer.
    const caller = await findMembership(tx, siteId, ownerId);
    if (caller?.role !== 'owner') throw new Refusal('forbidden', 'Only the site’s owner can transfer it.');
    const target = await findMembership(tx, siteId, profileId);
    if (target?.role !== 'admin') {
      throw new Refusal('not_an_admin', undefined, [
        { path: 'body.profileId', message: 'is not an admin of this site' },
      ]);
    }
    // Demote first: the site may have only one owner at any moment (unique index).
    await tx
      .update(memberships)
      .set({ role: 'admin', masterKey: false })
      .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, ownerId)));
    await tx
      .update(memberships)
      .set({ role: 'owner', masterKey: true })
      .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, profileId)));
    await recordEvent(tx, {
      siteId,
      at: now,
      type: 'site.ownership_transferred',
      actorProfileId: ownerId,
      subjectProfileId: profileId,
    });
    const [former, next] = await Promise.all([findProfileById(tx, ownerId), findProfileById(tx, profileId)]);
    if (!former || !next) throw new Error('a member of the transfer has no profile');
    for (const [recipient, recipientIs] of [
      [former, 'former-owner'],
      [next, 'new-owner'],
    ] as const) {
      await sendOrRefuse(
        mailing.mailer,
        {
          to: recipient.email,
          template: 'ownership-transferred',
          props: {
            siteName: site.name,
            recipientName: recipient.name,
            newOwnerName: next.name,
            formerOwnerName: former.name,
            recipientIs,
          },
          idempotencyKey: `ownership:${siteId}:${profileId}:${now.getTime()}:${recipientIs}`,
        },
        tx,
      );
    }
    for (const link of await sentConsentLinksOfSite(tx, siteId)) {
      if (!link.expiresAt) continue;
      // D6: when the new owner is the person whose deletion it asks about, who must not answer for
      // the site, the former owner's link dies all the same and none replaces it: the site's next
      // owner is sent one. Still the owner when every other site approved, they block the deletion.
      const fresh = link.subjectId === profileId ? undefined : newToken();
      await setConsentToken(tx, {
        requestId: link.requestId,
        siteId,
        tokenHash: fresh?.hash ?? null,
        expiresAt: link.expiresAt,
        reminded: false,
        now,
      });
      if (!fresh) continue;
      await sendOrRefuse(
        mailing.mailer,
        {
          to: next.email,
          template: 'deletion-consent-request',
          props: {
            siteName: site.name,
            consentUrl: publicLink(mailing.publicBaseUrl, `/consents/${fresh.token}`),
            answerBy: formatSiteDate(link.expiresAt, link.timezone),
          },
          idempotencyKey: `deletion-consent-transfer:${link.requestId}:${siteId}:${now.getTime()}`,
        },
        tx,
      );
    }
  });
}

/**
 * K6: the owner's choice of event types that email them, decided under the site's lock (N7): an
 * ownership transferred while the choice waited for the lock leaves it to the new owner. The choice
 * goes out with the lock and the membership's read (one round trip where it was two, issue 15):
 * PostgreSQL writes it once the lock is granted, and a refusal decided under the lock rolls it back
 * with the transaction.
 */
export function chooseNotifications(
  db: Db,
  input: { siteId: string; eventTypes: string[]; actor: SiteActor; now: Date },
): Promise<void> {
  const { siteId, eventTypes, actor, now } = input;
  return db.transaction(async (tx) => {
    await Promise.all([
      lockSiteAs(tx, siteId, actor),
      setNotificationChoice(tx, { siteId, eventTypes, actorId: actor.id, now }),
    ]);
  });
}
