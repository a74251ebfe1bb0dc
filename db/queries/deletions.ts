import { and, eq, exists, gt, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import { deadlineOutcome } from '../../domain/profile-deletion';
import type { DbOrTx, Tx } from '../client';
import { deletionConsents, deletionRequests, memberships, profiles, sentEmails, sites } from '../schema';

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

export async function findDeletionRequest(
  db: DbOrTx,
  id: string,
  /** Lock its row: the order of a cancel, the deadline's end and the deletion, which lock it first. */
  lock = false,
): Promise<DeletionRequest | undefined> {
  const query = db.select().from(deletionRequests).where(eq(deletionRequests.id, id));
  const [row] = await (lock ? query.for('update') : query);
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

/**
 * Every site whose rows a profile's deletion changes, sorted (the order site locks are taken in):
 * those it belongs to, those it installs (the installer link is cleared), those of invitations
 * to its address or sent by it (deleted, or their inviter cleared), and those where it holds or held
 * a credential (unlinked, and its grants taken out of the IQs' retained deltas, at a site it left too).
 */
export async function sitesTouchedByDeletion(
  db: DbOrTx,
  profileId: string,
  email: string,
): Promise<string[]> {
  const rows = await db.execute<{ id: string }>(sql`
    select site_id as id from memberships where profile_id = ${profileId}
    union select id from sites where installer_profile_id = ${profileId}
    union select site_id from site_invitations where lower(email) = ${email.toLowerCase()} or invited_by = ${profileId}
    union select site_id from access_methods where profile_id = ${profileId}
    order by id`);
  return rows.map((r) => r.id);
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
      deadlineAt: deletionRequests.deadlineAt,
      subjectId: deletionRequests.profileId,
    })
    .from(deletionConsents)
    .innerJoin(deletionRequests, eq(deletionRequests.id, deletionConsents.requestId))
    .innerJoin(sites, eq(sites.id, deletionConsents.siteId))
    .where(and(eq(deletionConsents.requestId, requestId), eq(deletionConsents.siteId, siteId)));
  return row;
}

/**
 * Replaces the site's link (the previous one dies: only one hash is stored per consent), only while
 * the site has not answered and the request is open. False when it may no longer answer. A null hash
 * leaves the site with no link, its expiry kept: the mark that it was asked, so its next owner is sent
 * one (sentConsentLinksOfSite).
 */
export async function setConsentToken(
  db: DbOrTx,
  values: {
    requestId: string;
    siteId: string;
    tokenHash: string | null;
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

/**
 * D2: the links a site's owner was sent and has not answered, of open requests, with when each
 * expires, the site's time zone and whose deletion it asks about: what an ownership transfer sends
 * the new owner instead. A link that died with no other in its place (its request's subject owned
 * the site) still has its expiry, and counts.
 */
export function sentConsentLinksOfSite(db: DbOrTx, siteId: string) {
  return db
    .select({
      requestId: deletionConsents.requestId,
      expiresAt: deletionConsents.tokenExpiresAt,
      timezone: sites.timezone,
      subjectId: deletionRequests.profileId,
    })
    .from(deletionConsents)
    .innerJoin(sites, eq(sites.id, deletionConsents.siteId))
    .innerJoin(deletionRequests, eq(deletionRequests.id, deletionConsents.requestId))
    .where(
      and(
        eq(deletionConsents.siteId, siteId),
        eq(deletionConsents.decision, 'pending'),
        isNotNull(deletionConsents.tokenExpiresAt),
        eq(deletionRequests.status, 'awaiting_consent'),
      ),
    );
}

const requestIsOpen = () =>
  exists(
    sql`(select 1 from ${deletionRequests} where ${deletionRequests.id} = ${deletionConsents.requestId} and ${deletionRequests.status} = 'awaiting_consent')`,
  );

/**
 * D3: the consent link with this hash, unused, unexpired, and its site not answered yet; and (D6) its
 * site not owned by the person whose deletion it asks about: a link that reached them (sent before a
 * transfer to them stopped sending one) would be their consent to their own deletion.
 */
const usableLink = (tokenHash: string, now: Date) =>
  and(
    eq(deletionConsents.tokenHash, tokenHash),
    isNull(deletionConsents.tokenUsedAt),
    gt(deletionConsents.tokenExpiresAt, now),
    eq(deletionConsents.decision, 'pending'),
    sql`not exists (select 1 from memberships m join deletion_requests r on r.profile_id = m.profile_id
      where r.id = deletion_consents.request_id and m.site_id = deletion_consents.site_id and m.role = 'owner')`,
  );

/** What the consent page shows: the site, the person as its owner knows them, the filing, the deadline. */
export async function findUsableConsent(db: DbOrTx, tokenHash: string, now: Date) {
  const [row] = await db
    .select({
      requestId: deletionConsents.requestId,
      siteId: deletionConsents.siteId,
      siteName: sites.name,
      timezone: sites.timezone,
      personName: profiles.name,
      personEmail: profiles.email,
      filedAt: deletionRequests.createdAt,
      deadlineAt: deletionRequests.deadlineAt,
    })
    .from(deletionConsents)
    .innerJoin(deletionRequests, eq(deletionRequests.id, deletionConsents.requestId))
    .innerJoin(profiles, eq(profiles.id, deletionRequests.profileId))
    .innerJoin(sites, eq(sites.id, deletionConsents.siteId))
    .where(and(usableLink(tokenHash, now), eq(deletionRequests.status, 'awaiting_consent')));
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
    .where(and(usableLink(tokenHash, now), requestIsOpen()))
    .returning({ requestId: deletionConsents.requestId, siteId: deletionConsents.siteId });
  return row;
}

/**
 * Ends an open request with `status` and kills its links. Answers the status the request has
 * afterwards: another path (a support cancel, the deletion) may have ended it first, and a deadline
 * yields to the answers stored by then (`deadlineOutcome`): `denied`, or still `awaiting_consent`
 * when every site approved. The request's row is locked first (the order of a cancel and the
 * deletion), then its answers: a consent page's answer in flight is waited for and counted, and one
 * that comes after finds its link dead.
 */
export async function finishDeletionRequest(
  db: DbOrTx,
  requestId: string,
  status: Exclude<DeletionStatus, 'awaiting_consent' | 'completed'>,
  now: Date,
): Promise<DeletionStatus | undefined> {
  return db.transaction(async (tx) => {
    const [request] = await tx
      .select({ status: deletionRequests.status })
      .from(deletionRequests)
      .where(eq(deletionRequests.id, requestId))
      .for('update');
    if (request?.status !== 'awaiting_consent') return request?.status;
    const answers = await tx
      .select({ decision: deletionConsents.decision })
      .from(deletionConsents)
      .where(eq(deletionConsents.requestId, requestId))
      .for('update');
    const end = status === 'timed_out' ? deadlineOutcome(answers.map((a) => a.decision)) : status;
    if (end === 'awaiting_consent') return end;
    await tx
      .update(deletionRequests)
      .set({ status: end, finishedAt: now })
      .where(eq(deletionRequests.id, requestId));
    await killTokens(tx, requestId);
    return end;
  });
}

/**
 * D2 asks the sites the profile belongs to: a site it leaves (or is removed or released from) no
 * longer has a say in its open deletion request. Its unanswered consent goes, and its link with it;
 * the request then waits only on the sites it still belongs to (an answer already given stays).
 * Returns the requests whose consent went, for their workflows to hear of it.
 */
export async function dropConsentOfSiteLeft(tx: DbOrTx, siteId: string, profileId: string) {
  const rows = await tx.execute<{ request_id: string }>(sql`
    delete from deletion_consents c using deletion_requests r
    where r.id = c.request_id and r.profile_id = ${profileId} and r.status = 'awaiting_consent'
      and c.site_id = ${siteId} and c.decision = 'pending'
    returning c.request_id`);
  return rows.map((r) => r.request_id);
}

/** Every consent link of the request dies (D3): only one hash is kept per consent, and it goes. */
export const killTokens = (tx: Tx, requestId: string) =>
  tx
    .update(deletionConsents)
    .set({ tokenHash: null, tokenExpiresAt: null })
    .where(eq(deletionConsents.requestId, requestId));

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

/** D6: a filing for a profile that owns a site ends at once as `blocked_owner`; nothing is asked. */
export async function insertBlockedRequest(
  db: DbOrTx,
  values: { profileId: string; deadlineAt: Date; now: Date },
): Promise<DeletionRequest> {
  const [row] = await db
    .insert(deletionRequests)
    .values({
      profileId: values.profileId,
      deadlineAt: values.deadlineAt,
      status: 'blocked_owner',
      createdAt: values.now,
      finishedAt: values.now,
    })
    .returning();
  return row!;
}

/** The sites with these ids and their names, in id order. */
export async function namedSites(db: DbOrTx, siteIds: readonly string[]) {
  if (siteIds.length === 0) return [];
  return db
    .select({ siteId: sites.id, name: sites.name })
    .from(sites)
    .where(inArray(sites.id, [...siteIds]))
    .orderBy(sites.id);
}
