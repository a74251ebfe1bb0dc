import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { recordEvent } from '../db/queries/events';
import { findMembership } from '../db/queries/memberships';
import { findProfileByEmail, findProfileById, type Profile } from '../db/queries/profiles';
import { findSiteOwner, type Site } from '../db/queries/sites';
import { lockSite } from '../db/queries/subscriptions';
import { memberships, sites } from '../db/schema';
import { Refusal } from '../domain/reasons';
import type { Mailer } from '../emails/mailer';
import { inviteToSite } from './invitations';
import { type Mailing, sendOrRefuse } from './mail';

/**
 * A new site (A2, S1). An installer's site stays `installing` until released and is owned by the
 * profile with `ownerEmail`, or that email is invited; anyone else's site is their own.
 */
export function createSite(
  db: Db,
  mailing: Mailing,
  input: {
    name: string;
    timezone: string;
    creator: Pick<Profile, 'id'>;
    /** Set when an installer creates the site for this owner. */
    installerFor?: string | undefined;
    now: Date;
  },
): Promise<Site> {
  const { creator, installerFor, now } = input;
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(sites)
      .values({
        name: input.name,
        timezone: input.timezone,
        status: installerFor !== undefined ? 'installing' : 'active',
        installerProfileId: installerFor !== undefined ? creator.id : null,
        createdAt: now,
      })
      .returning();
    if (!row) throw new Error('site insert returned nothing');
    const owner = installerFor !== undefined ? await findProfileByEmail(tx, installerFor) : creator;
    if (owner) {
      await tx
        .insert(memberships)
        .values({ siteId: row.id, profileId: owner.id, role: 'owner', masterKey: true, joinedAt: now });
    } else {
      await inviteToSite(tx, mailing, {
        site: row,
        email: installerFor!,
        role: 'owner',
        inviterId: creator.id,
        now,
      });
    }
    await recordEvent(tx, {
      siteId: row.id,
      at: now,
      type: 'site.created',
      actorProfileId: creator.id,
      subjectProfileId: owner?.id ?? null,
    });
    return row;
  });
}

/** O2: a sandbox site (its own test clock) owned by an existing profile. */
export function createSandboxSite(
  db: Db,
  input: { name: string; timezone: string; ownerId: string },
): Promise<Site> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(sites)
      .values({ name: input.name, timezone: input.timezone, sandbox: true })
      .returning();
    if (!row) throw new Error('site insert returned nothing');
    await tx
      .insert(memberships)
      .values({ siteId: row.id, profileId: input.ownerId, role: 'owner', masterKey: true });
    return row;
  });
}

/** S1: the installer hands the site over, once its owner has joined. */
export function releaseSite(
  db: Db,
  input: { siteId: string; installerId: string; now: Date },
): Promise<Site> {
  const { siteId, now } = input;
  return db.transaction(async (tx) => {
    const locked = await lockSite(tx, siteId);
    if (!locked || locked.releasedAt) throw new Refusal('already_released');
    if (!(await findSiteOwner(tx, siteId))) throw new Refusal('owner_not_joined');
    const [row] = await tx
      .update(sites)
      .set({ releasedAt: now, status: 'active' })
      .where(eq(sites.id, siteId))
      .returning();
    await recordEvent(tx, { siteId, at: now, type: 'site.released', actorProfileId: input.installerId });
    return row!;
  });
}

/**
 * S3: the owner hands the site to an admin: the old owner becomes admin without the master key, the
 * new owner holds it; both are emailed (without the emails, nothing changes).
 */
export function transferOwnership(
  db: Db,
  mailer: Mailer,
  input: { site: Pick<Site, 'id' | 'name'>; ownerId: string; profileId: string; now: Date },
): Promise<void> {
  const { site, ownerId, profileId, now } = input;
  const siteId = site.id;
  return db.transaction(async (tx) => {
    await lockSite(tx, siteId);
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
      await sendOrRefuse(mailer, {
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
      });
    }
  });
}

/** K6: the event types that email the owner; replaces the previous choice. */
export function chooseNotifications(
  db: Db,
  input: { siteId: string; eventTypes: string[]; actorId: string; now: Date },
): Promise<void> {
  return db.transaction(async (tx) => {
    await tx.update(sites).set({ notifyEventTypes: input.eventTypes }).where(eq(sites.id, input.siteId));
    await recordEvent(tx, {
      siteId: input.siteId,
      at: input.now,
      type: 'site.notifications_changed',
      actorProfileId: input.actorId,
      data: { eventTypes: input.eventTypes },
    });
  });
}
