import { and, eq } from 'drizzle-orm';
import type { Db, DbOrTx } from '../db/client';
import { syncAccessLists } from '../db/queries/access-lists';
import { dropConsentOfSiteLeft } from '../db/queries/deletions';
import { recordEvent } from '../db/queries/events';
import { findMembership } from '../db/queries/memberships';
import { hasValidAccess, revokeMemberAccess, setSubscribed } from '../db/queries/people';
import type { Site } from '../db/queries/sites';
import { findCurrentTerm, lockSite, slotUsage } from '../db/queries/subscriptions';
import {
  decideInTransaction,
  refuseUnlessAllowed,
  type ThrottleKey,
  writeThrottles,
} from '../db/queries/throttles';
import { memberships } from '../db/schema';
import type { SiteRole } from '../db/schema/sites';
import { Refusal } from '../domain/reasons';
import type { SiteActor } from '../domain/site-roles';
import { subscribeRefusal } from '../domain/subscription';
import {
  assertOwnerInvitationAllowed,
  inviteToSite,
  newInvitationLink,
  type SentInvitation,
  withdrawInvitationsOfLostRight,
} from './invitations';
import { assertInstallationAllowed } from './iqs';
import type { Mailing } from './mail';
import { lockSiteAs } from './site-lock';

/** The member, or `not_found` for one who is not a member of this site. */
export async function memberOf(tx: DbOrTx, siteId: string, profileId: string) {
  const member = await findMembership(tx, siteId, profileId);
  if (!member) throw new Refusal('not_found', 'No such member.');
  return member;
}

/**
 * S7: adding a person by email always invites them, whether or not the email has a profile: they
 * become a member only by accepting. An owner invitation is the installer's (A2). Refused
 * `already_member` / `already_invited`.
 */
export function invitePerson(
  db: Db,
  mailing: Mailing,
  input: {
    site: { id: string; name: string };
    email: string;
    role: SiteRole;
    actor: SiteActor;
    /** The key counting this site's invitations to this email: counted when one is sent. */
    throttle: ThrottleKey;
    /**
     * Read once the site and the key are locked: the invitation and its count are made at that
     * instant, so invitations waiting for the same site are counted in the order they hold it.
     */
    clock: () => Date;
  },
): Promise<SentInvitation> {
  const { site, role, actor } = input;
  const link = newInvitationLink();
  return db.transaction(async (tx) => {
    const { site: locked, role: actorRole } = await lockSiteAs(tx, site.id, actor);
    // Keys after the site, as redemptions take them; counted only with the invitation it sends (a
    // refusal below rolls both back).
    const attempt = await decideInTransaction(tx, [input.throttle], input.clock);
    refuseUnlessAllowed(attempt);
    const now = attempt.at;
    if (role === 'owner') {
      await assertOwnerInvitationAllowed(tx, { siteId: site.id, actorRole, now });
      // The hand-over is installation work (A2, V7): a site that never had a term takes it.
      assertInstallationAllowed(locked);
    } else if (locked.subscriptionStatus !== 'active') {
      throw new Refusal('no_valid_subscription');
    }
    const invitation = await inviteToSite(tx, mailing, {
      site: locked,
      email: input.email,
      role,
      inviterId: actor.id,
      now,
      link,
    });
    await writeThrottles(tx, { tats: attempt.tats });
    return invitation;
  });
}

export type MemberChanges = {
  subscribed?: boolean | undefined;
  role?: 'admin' | 'user' | undefined;
  masterKey?: boolean | undefined;
};

/**
 * Changes a member's slot (V8, in its order, under the site lock), role or master key (S4). The
 * owner's role changes only by a transfer, and the owner always holds the master key.
 */
export function changeMember(
  db: Db,
  input: {
    siteId: string;
    profileId: string;
    changes: MemberChanges;
    actor: SiteActor;
    now: Date;
  },
): Promise<void> {
  const { siteId, profileId, changes, now } = input;
  return db.transaction(async (tx) => {
    const { site, role: actorRole } = await lockSiteAs(tx, siteId, input.actor);
    const target = await memberOf(tx, siteId, profileId);
    if (changes.subscribed === true) {
      const term = await findCurrentTerm(tx, siteId);
      const refusal = subscribeRefusal({
        actorRole,
        siteStatus: site.subscriptionStatus,
        usedUserSlots: (await slotUsage(tx, siteId)).users,
        usersLimit: term?.usersLimit ?? 0,
        targetAlreadySubscribed: target.subscribed,
        targetHasValidAccess: await hasValidAccess(tx, siteId, profileId),
      });
      if (refusal) throw new Refusal(refusal.code, refusal.message);
    } else if (site.subscriptionStatus !== 'active') {
      throw new Refusal('no_valid_subscription');
    }
    // S8: the owner's slot is the owner's to give up.
    if (changes.subscribed === false && target.role === 'owner' && actorRole !== 'owner') {
      throw new Refusal('forbidden', 'Only the owner gives up the owner’s slot.');
    }
    if (changes.subscribed === false && actorRole === 'installer') {
      throw new Refusal(
        'forbidden',
        'Only the site owner or an admin can choose which members are subscribed.',
      );
    }
    if (changes.masterKey !== undefined && actorRole !== 'owner') {
      throw new Refusal('forbidden', 'Only the site owner grants or takes the master key.');
    }
    if (target.role === 'owner' && changes.role !== undefined) {
      throw new Refusal('owner_role_fixed', undefined, [
        { path: 'body.role', message: 'cannot change the owner’s role' },
      ]);
    }
    if (target.role === 'owner' && changes.masterKey === false) {
      throw new Refusal('owner_holds_master_key', undefined, [
        { path: 'body.masterKey', message: 'cannot be taken from the owner' },
      ]);
    }
    if (changes.subscribed !== undefined && changes.subscribed !== target.subscribed) {
      await setSubscribed(tx, siteId, profileId, changes.subscribed, now);
      // K7: an unsubscribed member's credentials leave the IQs; subscribed again, they return.
      await syncAccessLists(tx, { siteId, profileId });
    }
    if (changes.role !== undefined || changes.masterKey !== undefined) {
      await tx
        .update(memberships)
        .set({
          ...(changes.role ? { role: changes.role } : {}),
          ...(changes.masterKey !== undefined ? { masterKey: changes.masterKey } : {}),
        })
        .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, profileId)));
    }
    // A user invites no one (S6): what they sent as admin goes with the right.
    if (changes.role === 'user' && target.role === 'admin') {
      await withdrawInvitationsOfLostRight(tx, { site, inviterId: profileId, actorId: input.actor.id, now });
    }
    await recordEvent(tx, {
      siteId,
      at: now,
      type: 'member.updated',
      actorProfileId: input.actor.id,
      subjectProfileId: profileId,
      data: changes,
    });
  });
}

/**
 * Ends a membership in the caller's transaction (which holds the site lock): every access method of
 * the member at the site is revoked, the membership goes, the IQs' access lists follow (K7), the site
 * stops having a say in the member's open deletion request (D2), the event is recorded, and the
 * invitations the member sent are withdrawn (S7). Returns
 * the deletion requests whose workflows must hear of it (wakeDeletionsOfSiteLeft, once committed).
 */
export async function endMembership(
  tx: DbOrTx,
  input: {
    site: Pick<Site, 'id' | 'installerProfileId' | 'releasedAt'>;
    profileId: string;
    type: 'member.removed' | 'member.left' | 'member.released';
    actorId: string;
    now: Date;
  },
): Promise<string[]> {
  const { site, profileId, now } = input;
  const siteId = site.id;
  const revoked = await revokeMemberAccess(tx, siteId, profileId, now);
  await tx
    .delete(memberships)
    .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, profileId)));
  await syncAccessLists(tx, { siteId, profileId });
  const deletionRequestIds = await dropConsentOfSiteLeft(tx, siteId, profileId);
  await recordEvent(tx, {
    siteId,
    at: now,
    type: input.type,
    actorProfileId: input.actorId,
    subjectProfileId: profileId,
    data: { revokedAccessIds: revoked },
  });
  await withdrawInvitationsOfLostRight(tx, { site, inviterId: profileId, actorId: input.actorId, now });
  return deletionRequestIds;
}

/**
 * S6: an owner or admin removes a member and their access methods at the site; never the owner.
 * Returns the member's deletion requests to wake (endMembership).
 */
export function removeMember(
  db: Db,
  input: { siteId: string; profileId: string; actor: SiteActor; now: Date },
): Promise<string[]> {
  const { siteId, profileId, now } = input;
  return db.transaction(async (tx) => {
    const { site } = await lockSiteAs(tx, siteId, input.actor);
    const target = await memberOf(tx, siteId, profileId);
    if (target.role === 'owner') throw new Refusal('owner_cannot_leave');
    return endMembership(tx, { site, profileId, actorId: input.actor.id, now, type: 'member.removed' });
  });
}

/**
 * S8: a member other than the owner leaves the site; their access methods there are revoked. Returns
 * the member's deletion requests to wake (endMembership).
 */
export function leaveSite(
  db: Db,
  input: { siteId: string; profileId: string; now: Date },
): Promise<string[]> {
  const { siteId, profileId } = input;
  return db.transaction(async (tx) => {
    const site = await lockSite(tx, siteId);
    if (!site) throw new Refusal('not_found', 'No such site.');
    const member = await memberOf(tx, siteId, profileId);
    if (member.role === 'owner') {
      throw new Refusal(
        'owner_cannot_leave',
        'The owner cannot leave; transfer ownership to an admin first.',
      );
    }
    return endMembership(tx, { site, profileId, type: 'member.left', actorId: profileId, now: input.now });
  });
}
