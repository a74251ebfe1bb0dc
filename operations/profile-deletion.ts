import { and, eq, ne, or, sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../db/client';
import { forgetMemberGrants, syncAccessLists } from '../db/queries/access-lists';
import { deleteAccountEmailsTo } from '../db/queries/account-emails';
import {
  type ConsentDecision,
  type DeletionRequest,
  type DeletionStatus,
  fileDeletionRequest,
  findDeletionRequest,
  insertBlockedRequest,
  insertConsents,
  killTokens,
  listConsents,
  namedSites,
  profileMemberships,
  setDeadline,
  sitesTouchedByDeletion,
} from '../db/queries/deletions';
import { deleteTokensOfProfile } from '../db/queries/email-tokens';
import { lockSite } from '../db/queries/subscriptions';
import {
  accessMethods,
  deletionRequests,
  events,
  idempotencyRecords,
  memberships,
  profiles,
  sentEmails,
  siteInvitations,
} from '../db/schema';
import { goodbyeEmailKey, ownedSites, personPatterns, type RequestView } from '../domain/profile-deletion';
import { EmailDeliveryError, type Mailer } from '../emails/mailer';

/**
 * D1 and D6 at filing: the profile's open request if it has one; else, when the profile owns a site, a
 * request that ends at once as `blocked_owner` (the rule the workflow applies again when it opens the
 * request and before it deletes: `ownedSites`), naming those sites; else a new open request.
 */
export function fileProfileDeletion(
  db: Db,
  input: { profileId: string; deadlineAt: Date; now: Date },
): Promise<{ request: DeletionRequest; blockingSites: { siteId: string; name: string }[] }> {
  return db.transaction(async (tx) => {
    const owned = ownedSites(await profileMemberships(tx, input.profileId));
    if (owned.length > 0) {
      const [open] = await tx
        .select()
        .from(deletionRequests)
        .where(
          and(
            eq(deletionRequests.profileId, input.profileId),
            eq(deletionRequests.status, 'awaiting_consent'),
          ),
        );
      // D1: the open request answers; its workflow finds the ownership when it opens or before it deletes.
      if (open) return { request: open, blockingSites: [] };
      const request = await insertBlockedRequest(tx, input);
      return { request, blockingSites: await namedSites(tx, owned) };
    }
    const { request } = await fileDeletionRequest(tx, input.profileId, input.deadlineAt);
    return { request, blockingSites: [] };
  });
}

/**
 * Sets the deadline the workflow planned and asks every site the profile belongs to, unless the
 * profile owns one (D6: then nothing is asked). A retry finds the consents it wrote. Undefined when
 * the request does not exist.
 */
export function openDeletionRequest(
  db: Db,
  input: { requestId: string; deadlineAt: Date },
): Promise<(RequestView & { ownedSiteIds: string[] }) | undefined> {
  return db.transaction(async (tx) => {
    // Locked: a cancel or an end committing meanwhile is waited for, and then no site is asked.
    const request = await findDeletionRequest(tx, input.requestId, true);
    if (!request) return undefined;
    if (request.status !== 'awaiting_consent' || !request.profileId) {
      return {
        status: request.status,
        consents: await listConsents(tx, input.requestId),
        // A request the filing blocked (D6) names the sites in the way.
        ownedSiteIds:
          request.status === 'blocked_owner' && request.profileId
            ? ownedSites(await profileMemberships(tx, request.profileId))
            : [],
      };
    }
    const held = await profileMemberships(tx, request.profileId);
    const owned = ownedSites(held);
    if (owned.length === 0) {
      // The workflow's clock is the one its timers run on; the filing's estimate gives way to it.
      await setDeadline(tx, input.requestId, input.deadlineAt);
      await insertConsents(
        tx,
        input.requestId,
        held.map((m) => m.siteId),
      );
    }
    return {
      status: request.status,
      consents: await listConsents(tx, input.requestId),
      ownedSiteIds: owned,
    };
  });
}

export type DeletionOutcome =
  | { kind: 'deleted' }
  /** Nothing to do: deleted before (a retried activity), or the request ended another way. */
  | { kind: 'not_open'; status: DeletionStatus }
  /** Became an owner meanwhile (D6). */
  | { kind: 'owner'; siteIds: string[] }
  /** The database holds answers the workflow did not see (a lost signal): it adopts them. */
  | { kind: 'not_approved'; consents: { siteId: string; decision: ConsentDecision }[] }
  /** Joined sites that were not asked (D2): their consents are added and must be given first. */
  | { kind: 'unasked_sites'; siteIds: string[] };

const PLACEHOLDER = 'deleted-profile';
/** Where mail to a deleted profile went, as its record says afterwards (the dev mailbox shows it). */
export const DELETED_RECIPIENT = '[deleted profile]';
const REDACTED_BODY = 'Sent to a profile that was deleted since; its content is erased';
/** A sent email's record once its recipient's profile is gone: its template, and nothing of them. */
const REDACTED_RECORD = {
  toAddress: DELETED_RECIPIENT,
  subject: DELETED_RECIPIENT,
  html: sql<string>`'<p>' || ${REDACTED_BODY} || ' (' || ${sentEmails.template} || ').</p>'`,
  text: sql<string>`${REDACTED_BODY} || ' (' || ${sentEmails.template} || ').'`,
};

/**
 * D7 in one transaction, idempotent (a second run finds no profile on the request and does nothing):
 * the profile leaves every site, its access methods go, its events stay with an unlinked placeholder
 * (no id, no hash of it), and every row that holds its id, email or name is deleted or redacted.
 * Subscriptions are not touched (D9). The request row keeps no link to the person.
 */
export async function deleteProfileData(
  db: Db,
  requestId: string,
  now: Date,
  /**
   * Runs once every check passed, under the request's lock, before the address goes: queues the
   * goodbye (Mailer.queue, key goodbyeEmailKey) in `tx`, its row kept whole until sendGoodbye sends it
   * after the commit. Its writes go through `tx`: a connection of the pool could be waiting for this
   * transaction's locks, every one of them.
   */
  beforeDelete: (profile: { email: string; name: string }, tx: DbOrTx) => Promise<unknown>,
): Promise<DeletionOutcome> {
  // Each pass that finds the memberships moved rolls back and decides again on the new ones; a few
  // in a row mean joins keep coming, and the activity's retry comes back later.
  for (let pass = 1; ; pass++) {
    try {
      return await deleteOnce(db, requestId, now, beforeDelete);
    } catch (error) {
      if (!(error instanceof MembershipsMoved) || pass === 5) throw error;
    }
  }
}

/** A join, a leave or a role change committed between reading the memberships and locking their sites. */
class MembershipsMoved extends Error {
  constructor() {
    super('the profile’s memberships changed while the deletion locked their sites');
  }
}

const sameMemberships = (a: readonly { siteId: string; role: string }[], b: typeof a) =>
  a.length === b.length && a.every((m, i) => m.siteId === b[i]?.siteId && m.role === b[i]?.role);

function deleteOnce(
  db: Db,
  requestId: string,
  now: Date,
  beforeDelete: (profile: { email: string; name: string }, tx: DbOrTx) => Promise<unknown>,
): Promise<DeletionOutcome> {
  return db.transaction(async (tx) => {
    // The row lock orders this against a support cancel and a second run.
    const [request] = await tx
      .select()
      .from(deletionRequests)
      .where(eq(deletionRequests.id, requestId))
      .for('update');
    if (!request?.profileId || request.status !== 'awaiting_consent') {
      return { kind: 'not_open', status: request?.status ?? 'completed' };
    }
    const profileId = request.profileId;
    const held = await profileMemberships(tx, profileId);
    const owned = ownedSites(held);
    if (owned.length > 0) return { kind: 'owner', siteIds: owned };
    const consents = await listConsents(tx, requestId);
    if (consents.some((c) => c.decision !== 'approved')) return { kind: 'not_approved', consents };
    const asked = new Set(consents.map((c) => c.siteId));
    const unasked = held.filter((m) => !asked.has(m.siteId)).map((m) => m.siteId);
    if (unasked.length > 0) {
      await insertConsents(tx, requestId, unasked);
      return { kind: 'unasked_sites', siteIds: unasked };
    }

    const siteIds = held.map((m) => m.siteId).sort();
    const [addressed] = await tx
      .select({ email: profiles.email })
      .from(profiles)
      .where(eq(profiles.id, profileId));
    // Site locks before the profile's: the order every access change takes (site, then its rows).
    // With the sites it belongs to, those whose rows it changes otherwise (it installs them, or an
    // invitation there is to or from it): a withdrawal or a release there holds the site and then
    // the invitation, and the site's installer link is cleared last, by the profile's own deletion.
    for (const siteId of await sitesTouchedByDeletion(tx, profileId, addressed?.email ?? '')) {
      await lockSite(tx, siteId);
    }
    // What others lock before the profile's row goes before the deletion locks it: a relay sending a
    // queued account email, an acceptance of an invitation and a followed link (a reset, a
    // confirmation) each hold their row and then take the profile's, so in this order the deletion
    // waits for them (and redacts what was sent below, or sees the site joined) instead of
    // deadlocking. Queued account emails go unsent (D7). An address never changes (A3).
    if (addressed) {
      await deleteAccountEmailsTo(tx, addressed.email);
      await deleteTokensOfProfile(tx, profileId);
      await tx
        .delete(siteInvitations)
        .where(sql`lower(${siteInvitations.email}) = ${addressed.email.toLowerCase()}`);
    }
    // With the profile's row locked no membership of it can be added (its key lock waits).
    const [profile] = await tx.select().from(profiles).where(eq(profiles.id, profileId)).for('update');
    // The checks above read the memberships before these locks: a site joined meanwhile was never
    // asked (D2) and is not locked, an ownership taken meanwhile must stop it (D6). Both show here
    // (sorted by site, as profileMemberships reads them); the transaction then rolls back and starts again.
    if (!sameMemberships(held, await profileMemberships(tx, profileId))) throw new MembershipsMoved();
    if (profile) {
      await beforeDelete(profile, tx);
      const email = profile.email.toLowerCase();
      // Revoked and unlinked, not deleted: an IQ that reports an event with one of these credentials
      // is then recorded with the deletion placeholder (K8), and the credential leads to nobody.
      const credentialSites = await tx
        .update(accessMethods)
        .set({
          status: 'revoked',
          revokedAt: sql`coalesce(${accessMethods.revokedAt}, ${now.toISOString()}::timestamptz)`,
          profileId: null,
          tagUid: null,
          pinHash: null,
          devicePinHash: null,
        })
        .where(eq(accessMethods.profileId, profileId))
        .returning({ siteId: accessMethods.siteId });
      // Slots are the subscribed memberships: leaving frees them.
      await tx.delete(memberships).where(eq(memberships.profileId, profileId));
      // K7: every IQ of those sites revokes the profile's credentials. Its grants leave the deltas
      // kept wherever it held a credential: a site it left keeps them for RETAINED_VERSIONS versions.
      for (const siteId of siteIds) await syncAccessLists(tx, { siteId, profileId });
      await forgetMemberGrants(tx, [...new Set(credentialSites.map((c) => c.siteId))], profileId);

      // The name only whole, and each as the column stores it (personPatterns).
      const person = { id: profileId, email, name: profile.name };
      const inJson = personPatterns(person, 'json');
      const inText = personPatterns(person, 'text');
      const inHtml = personPatterns(person, 'html');
      await tx
        .update(events)
        .set({ data: sql`regexp_replace(${events.data}::text, ${inJson.any}, ${PLACEHOLDER}, 'gi')::jsonb` })
        .where(
          and(
            sql`${events.data}::text ~* ${inJson.any}`,
            or(
              eq(events.actorProfileId, profileId),
              eq(events.subjectProfileId, profileId),
              sql`${events.data}::text ~* ${inJson.link}`,
            ),
          ),
        );
      await tx
        .update(events)
        .set({ actorProfileId: null, actorKind: PLACEHOLDER })
        .where(eq(events.actorProfileId, profileId));
      await tx.update(events).set({ subjectProfileId: null }).where(eq(events.subjectProfileId, profileId));

      // Mail to the person leaves a redacted record (issue 16: the goodbye can be seen to have gone
      // out), with its template and nothing of them; mail never delivered goes whole. The goodbye
      // queued above keeps its address until sendGoodbye has sent it. Mail to others that named them
      // keeps its record with the person redacted. A kept record's key that holds their id or email
      // (`ownership:<site>:<their id>:…`) becomes one that only its own row's id keeps unique.
      const keyWithoutThem = sql`case when ${sentEmails.idempotencyKey} ~* ${inText.link} then 'redacted:' || ${sentEmails.id} else ${sentEmails.idempotencyKey} end`;
      const toThem = and(
        eq(sentEmails.toAddress, email),
        ne(sentEmails.idempotencyKey, goodbyeEmailKey(requestId)),
      );
      await tx.delete(sentEmails).where(and(toThem, ne(sentEmails.status, 'sent')));
      await tx
        .update(sentEmails)
        .set({
          ...REDACTED_RECORD,
          idempotencyKey: keyWithoutThem,
        })
        .where(toThem);
      await tx
        .update(sentEmails)
        .set({
          subject: sql`regexp_replace(${sentEmails.subject}, ${inText.any}, ${PLACEHOLDER}, 'gi')`,
          html: sql`regexp_replace(${sentEmails.html}, ${inHtml.any}, ${PLACEHOLDER}, 'gi')`,
          text: sql`regexp_replace(${sentEmails.text}, ${inText.any}, ${PLACEHOLDER}, 'gi')`,
          idempotencyKey: keyWithoutThem,
        })
        .where(
          and(
            ne(sentEmails.toAddress, email),
            sql`(${sentEmails.subject} ~* ${inText.any} or ${sentEmails.html} ~* ${inHtml.any} or ${sentEmails.text} ~* ${inText.any}
              or ${sentEmails.idempotencyKey} ~* ${inText.link})`,
          ),
        );
      // Scopes are `<profileId>:<method> <path>`.
      await tx.delete(idempotencyRecords).where(sql`starts_with(${idempotencyRecords.scope}, ${profileId})`);
    }

    await killTokens(tx, requestId);
    // Earlier requests of the same profile (denied, timed out) must not lead back either.
    await tx
      .update(deletionRequests)
      .set({ profileId: null })
      .where(eq(deletionRequests.profileId, profileId));
    await tx
      .update(deletionRequests)
      .set({ status: 'completed', finishedAt: now })
      .where(eq(deletionRequests.id, requestId));
    await tx.delete(profiles).where(eq(profiles.id, profileId));
    return { kind: 'deleted' };
  });
}

/**
 * D7 after the deletion's commit: sends the goodbye it queued, the provider waited for under no lock,
 * then keeps only a redacted record of it (or none, when the provider refused its content: nothing
 * would make another try succeed). A provider that fails otherwise throws, and the activity's retry
 * comes back here (the deletion then finds its request completed). `none` for a request that queued
 * no goodbye (its profile was gone before) or whose goodbye was handled already.
 */
export async function sendGoodbye(
  db: Db,
  mailer: Mailer,
  requestId: string,
): Promise<'sent' | 'refused' | 'none'> {
  const key = goodbyeEmailKey(requestId);
  let outcome: 'sent' | 'refused' | 'none';
  try {
    const sent = await mailer.sendQueued(key);
    outcome = sent && !sent.duplicate ? 'sent' : 'none';
  } catch (error) {
    if (!(error instanceof EmailDeliveryError) || error.retryable) throw error;
    outcome = 'refused';
  }
  if (outcome === 'refused') {
    // Never sent: its row goes whole, as the deletion's unsent mail does.
    await db.delete(sentEmails).where(eq(sentEmails.idempotencyKey, key));
  } else {
    await db
      .update(sentEmails)
      .set(REDACTED_RECORD)
      .where(and(eq(sentEmails.idempotencyKey, key), ne(sentEmails.toAddress, DELETED_RECIPIENT)));
  }
  return outcome;
}
