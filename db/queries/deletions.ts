import { and, eq, exists, gt, isNull, ne, or, sql } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../client';
import {
  accessMethods,
  deletionConsents,
  deletionRequests,
  emailTokens,
  events,
  idempotencyRecords,
  memberships,
  profiles,
  sentEmails,
  siteInvitations,
  sites,
} from '../schema';
import { forgetMemberGrants, syncAccessLists } from './access-lists';
import { lockSite } from './subscriptions';

export type DeletionRequest = typeof deletionRequests.$inferSelect;
export type DeletionStatus = DeletionRequest['status'];
export type ConsentDecision = (typeof deletionConsents.$inferSelect)['decision'];

/**
 * D1: files a request, or finds the open one. The partial unique index on open requests decides a
 * race between two filings: the loser inserts nothing and reads the winner's row.
 */
export async function fileDeletionRequest(
  db: DbOrTx,
  profileId: string,
  deadlineAt: Date,
): Promise<{ request: DeletionRequest; created: boolean }> {
  const [created] = await db
    .insert(deletionRequests)
    .values({ profileId, deadlineAt })
    .onConflictDoNothing({ target: deletionRequests.profileId, where: sql`status = 'awaiting_consent'` })
    .returning();
  if (created) return { request: created, created: true };
  const [open] = await db
    .select()
    .from(deletionRequests)
    .where(and(eq(deletionRequests.profileId, profileId), eq(deletionRequests.status, 'awaiting_consent')));
  // Finished between our insert and this read: file again (a finished request does not block a new one).
  if (!open) return fileDeletionRequest(db, profileId, deadlineAt);
  return { request: open, created: false };
}

export async function findDeletionRequest(db: DbOrTx, id: string): Promise<DeletionRequest | undefined> {
  const [row] = await db.select().from(deletionRequests).where(eq(deletionRequests.id, id));
  return row;
}

export async function setDeadline(db: DbOrTx, requestId: string, deadlineAt: Date): Promise<void> {
  await db.update(deletionRequests).set({ deadlineAt }).where(eq(deletionRequests.id, requestId));
}

export async function listConsents(db: DbOrTx, requestId: string) {
  return db
    .select({ siteId: deletionConsents.siteId, decision: deletionConsents.decision })
    .from(deletionConsents)
    .where(eq(deletionConsents.requestId, requestId))
    .orderBy(deletionConsents.siteId);
}

/** The profile's sites and its role in each (D2, D6). */
export async function profileMemberships(db: DbOrTx, profileId: string) {
  return db
    .select({ siteId: memberships.siteId, role: memberships.role })
    .from(memberships)
    .where(eq(memberships.profileId, profileId))
    .orderBy(memberships.siteId);
}

export async function insertConsents(db: DbOrTx, requestId: string, siteIds: readonly string[]) {
  if (siteIds.length === 0) return;
  await db
    .insert(deletionConsents)
    .values(siteIds.map((siteId) => ({ requestId, siteId })))
    .onConflictDoNothing();
}

/** What a consent email needs: the site, its owner's address, and whether the site may still answer. */
export async function consentContext(db: DbOrTx, requestId: string, siteId: string) {
  const [row] = await db
    .select({
      status: deletionRequests.status,
      decision: deletionConsents.decision,
      siteName: sites.name,
      timezone: sites.timezone,
    })
    .from(deletionConsents)
    .innerJoin(deletionRequests, eq(deletionRequests.id, deletionConsents.requestId))
    .innerJoin(sites, eq(sites.id, deletionConsents.siteId))
    .where(and(eq(deletionConsents.requestId, requestId), eq(deletionConsents.siteId, siteId)));
  return row;
}

/**
 * Replaces the site's link (the previous one dies: only one hash is stored per consent), only while
 * the site has not answered and the request is open. False when it may no longer answer.
 */
export async function setConsentToken(
  db: DbOrTx,
  values: {
    requestId: string;
    siteId: string;
    tokenHash: string;
    expiresAt: Date;
    reminded: boolean;
    now: Date;
  },
): Promise<boolean> {
  const rows = await db
    .update(deletionConsents)
    .set({
      tokenHash: values.tokenHash,
      tokenExpiresAt: values.expiresAt,
      tokenUsedAt: null,
      ...(values.reminded ? { remindedAt: values.now } : {}),
    })
    .where(
      and(
        eq(deletionConsents.requestId, values.requestId),
        eq(deletionConsents.siteId, values.siteId),
        eq(deletionConsents.decision, 'pending'),
        requestIsOpen(),
      ),
    )
    .returning({ siteId: deletionConsents.siteId });
  return rows.length === 1;
}

const requestIsOpen = () =>
  exists(
    sql`(select 1 from ${deletionRequests} where ${deletionRequests.id} = ${deletionConsents.requestId} and ${deletionRequests.status} = 'awaiting_consent')`,
  );

/** What the consent page shows: the site, the person as its owner knows them, the deadline. */
export async function findUsableConsent(db: DbOrTx, tokenHash: string, now: Date) {
  const [row] = await db
    .select({
      requestId: deletionConsents.requestId,
      siteId: deletionConsents.siteId,
      siteName: sites.name,
      timezone: sites.timezone,
      personName: profiles.name,
      deadlineAt: deletionRequests.deadlineAt,
    })
    .from(deletionConsents)
    .innerJoin(deletionRequests, eq(deletionRequests.id, deletionConsents.requestId))
    .innerJoin(profiles, eq(profiles.id, deletionRequests.profileId))
    .innerJoin(sites, eq(sites.id, deletionConsents.siteId))
    .where(
      and(
        eq(deletionConsents.tokenHash, tokenHash),
        isNull(deletionConsents.tokenUsedAt),
        gt(deletionConsents.tokenExpiresAt, now),
        eq(deletionConsents.decision, 'pending'),
        eq(deletionRequests.status, 'awaiting_consent'),
      ),
    );
  return row;
}

/**
 * D3: records an owner's answer through their link in one statement, so two submissions (or a
 * submission racing a cancel) cannot both count. Undefined when the link is unknown, used, expired,
 * or its request is no longer open.
 */
export async function recordConsentByToken(
  db: DbOrTx,
  tokenHash: string,
  decision: 'approved' | 'denied',
  now: Date,
) {
  const [row] = await db
    .update(deletionConsents)
    .set({ decision, decidedAt: now, tokenUsedAt: now })
    .where(
      and(
        eq(deletionConsents.tokenHash, tokenHash),
        isNull(deletionConsents.tokenUsedAt),
        gt(deletionConsents.tokenExpiresAt, now),
        eq(deletionConsents.decision, 'pending'),
        requestIsOpen(),
      ),
    )
    .returning({ requestId: deletionConsents.requestId, siteId: deletionConsents.siteId });
  return row;
}

/** The workflow's side of a `consent` signal: records it unless the site has answered already. */
export async function recordConsent(
  db: DbOrTx,
  values: { requestId: string; siteId: string; decision: 'approved' | 'denied'; now: Date },
) {
  await db
    .update(deletionConsents)
    .set({ decision: values.decision, decidedAt: values.now, tokenUsedAt: values.now })
    .where(
      and(
        eq(deletionConsents.requestId, values.requestId),
        eq(deletionConsents.siteId, values.siteId),
        eq(deletionConsents.decision, 'pending'),
        requestIsOpen(),
      ),
    );
}

/**
 * Ends an open request with `status` and kills its links. Answers the status the request has
 * afterwards: another path (a support cancel, the deletion) may have ended it first.
 */
export async function finishDeletionRequest(
  db: DbOrTx,
  requestId: string,
  status: Exclude<DeletionStatus, 'awaiting_consent' | 'completed'>,
  now: Date,
): Promise<DeletionStatus | undefined> {
  return db.transaction(async (tx) => {
    await tx
      .update(deletionRequests)
      .set({ status, finishedAt: now })
      .where(and(eq(deletionRequests.id, requestId), eq(deletionRequests.status, 'awaiting_consent')));
    await killTokens(tx, requestId);
    return (await findDeletionRequest(tx, requestId))?.status;
  });
}

const killTokens = (tx: Tx, requestId: string) =>
  tx
    .update(deletionConsents)
    .set({ tokenHash: null, tokenExpiresAt: null })
    .where(eq(deletionConsents.requestId, requestId));

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

/** A PostgreSQL regular expression that matches `s` literally. */
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * D7 in one transaction, idempotent (a second run finds no profile on the request and does nothing):
 * the profile leaves every site, its access methods go, its events stay with an unlinked placeholder
 * (no id, no hash of it), and every row that holds its id, email or name is deleted or redacted.
 * Subscriptions are not touched (D9). The request row keeps no link to the person.
 */
export async function deleteProfileData(
  db: DbOrTx,
  requestId: string,
  now: Date,
  /** Runs once every check passed, under the request's lock: the goodbye goes out before the address goes. */
  beforeDelete: (profile: { email: string; name: string }) => Promise<void>,
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
    const owned = held.filter((m) => m.role === 'owner').map((m) => m.siteId);
    if (owned.length > 0) return { kind: 'owner', siteIds: owned };
    const consents = await listConsents(tx, requestId);
    if (consents.some((c) => c.decision !== 'approved')) return { kind: 'not_approved', consents };
    const asked = new Set(consents.map((c) => c.siteId));
    const unasked = held.filter((m) => !asked.has(m.siteId)).map((m) => m.siteId);
    if (unasked.length > 0) {
      await insertConsents(tx, requestId, unasked);
      return { kind: 'unasked_sites', siteIds: unasked };
    }

    // Site locks before the profile's: the order every access change takes (site, then its rows).
    const siteIds = held.map((m) => m.siteId).sort();
    for (const siteId of siteIds) await lockSite(tx, siteId);
    const [profile] = await tx.select().from(profiles).where(eq(profiles.id, profileId)).for('update');
    if (profile) {
      await beforeDelete(profile);
      const email = profile.email.toLowerCase();
      // Revoked and unlinked, not deleted: an IQ that reports an event with one of these credentials
      // is then recorded with the deletion placeholder (K8), and the credential leads to nobody.
      await tx
        .update(accessMethods)
        .set({
          status: 'revoked',
          revokedAt: sql`coalesce(${accessMethods.revokedAt}, ${now.toISOString()}::timestamptz)`,
          profileId: null,
          tagUid: null,
          pinHash: null,
          devicePinHash: null,
        })
        .where(eq(accessMethods.profileId, profileId));
      // Slots are the subscribed memberships: leaving frees them.
      await tx.delete(memberships).where(eq(memberships.profileId, profileId));
      // K7: every IQ of those sites revokes the profile's credentials; its grants leave the deltas kept.
      for (const siteId of siteIds) await syncAccessLists(tx, { siteId, profileId });
      await forgetMemberGrants(tx, siteIds, profileId);

      // Whole words only for the name: it is not unique, and other text must stay readable.
      const linkPattern = `${literal(profileId)}|${literal(email)}`;
      const anyPattern = `${linkPattern}|\\m${literal(profile.name)}\\M`;
      await tx
        .update(events)
        .set({ data: sql`regexp_replace(${events.data}::text, ${anyPattern}, ${PLACEHOLDER}, 'gi')::jsonb` })
        .where(
          and(
            sql`${events.data}::text ~* ${anyPattern}`,
            or(
              eq(events.actorProfileId, profileId),
              eq(events.subjectProfileId, profileId),
              sql`${events.data}::text ~* ${linkPattern}`,
            ),
          ),
        );
      await tx
        .update(events)
        .set({ actorProfileId: null, actorKind: PLACEHOLDER })
        .where(eq(events.actorProfileId, profileId));
      await tx.update(events).set({ subjectProfileId: null }).where(eq(events.subjectProfileId, profileId));

      await tx
        .delete(emailTokens)
        .where(or(eq(emailTokens.profileId, profileId), sql`lower(${emailTokens.email}) = ${email}`));
      await tx.delete(siteInvitations).where(sql`lower(${siteInvitations.email}) = ${email}`);
      // Mail to the person goes whole (the goodbye was sent before this); mail to others that named
      // them keeps its record with the person redacted.
      await tx.delete(sentEmails).where(eq(sentEmails.toAddress, email));
      await tx
        .update(sentEmails)
        .set({
          subject: sql`regexp_replace(${sentEmails.subject}, ${anyPattern}, ${PLACEHOLDER}, 'gi')`,
          html: sql`regexp_replace(${sentEmails.html}, ${anyPattern}, ${PLACEHOLDER}, 'gi')`,
          text: sql`regexp_replace(${sentEmails.text}, ${anyPattern}, ${PLACEHOLDER}, 'gi')`,
        })
        .where(
          and(
            ne(sentEmails.toAddress, email),
            sql`(${sentEmails.subject} ~* ${anyPattern} or ${sentEmails.html} ~* ${anyPattern} or ${sentEmails.text} ~* ${anyPattern})`,
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

/** Support's cancel: only an open request can be canceled; its links die with it (D3). */
export async function cancelDeletionRequest(
  db: DbOrTx,
  requestId: string,
  now: Date,
): Promise<'canceled' | 'finished' | 'not_found'> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(deletionRequests)
      .set({ status: 'canceled', finishedAt: now })
      .where(and(eq(deletionRequests.id, requestId), eq(deletionRequests.status, 'awaiting_consent')))
      .returning({ id: deletionRequests.id });
    if (row) {
      await killTokens(tx, requestId);
      return 'canceled';
    }
    return (await findDeletionRequest(tx, requestId)) ? 'finished' : 'not_found';
  });
}

/** Sites the profile owns now: what blocks its deletion (D6). */
export async function ownedSiteIds(db: DbOrTx, profileId: string): Promise<string[]> {
  const rows = await db
    .select({ siteId: memberships.siteId })
    .from(memberships)
    .where(and(eq(memberships.profileId, profileId), eq(memberships.role, 'owner')))
    .orderBy(memberships.siteId);
  return rows.map((r) => r.siteId);
}

export async function sentEmailStatus(db: DbOrTx, idempotencyKey: string) {
  const [row] = await db
    .select({ status: sentEmails.status })
    .from(sentEmails)
    .where(eq(sentEmails.idempotencyKey, idempotencyKey));
  return row?.status;
}
