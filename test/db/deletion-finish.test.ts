/**
 * N7 for a deletion request's end (db/queries/deletions.ts finishDeletionRequest) against a consent
 * page's answer (recordConsentByToken), on a real PostgreSQL: whatever the order, an answer the page
 * recorded is never overwritten by the deadline, and an answer that came too late is not recorded.
 * - a denial stored before the deadline's end makes it `denied`; every site approved keeps it open;
 * - an answer in flight when the end comes is waited for and counted;
 * - generated interleavings of answers and an end, sent at once: the page's answer is recorded
 *   exactly when the end counted it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import {
  cancelDeletionRequest,
  fileDeletionRequest,
  finishDeletionRequest,
  insertConsents,
  listConsents,
  recordConsentByToken,
  setConsentToken,
} from '../../db/queries/deletions';
import { insertProfile } from '../../db/queries/profiles';
import { deletionConsents, deletionRequests, memberships, sites } from '../../db/schema';
import { openDeletionRequest } from '../../operations/profile-deletion';
import { createTestDatabase } from '../support/database';
import { untilAnsweredOrWaiting } from '../support/lock-waits';

let database: Database;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const now = () => new Date();

/** An open request asking `siteCount` sites, each with a live link; the links' hashes by site. */
async function openRequest(siteCount: number) {
  const { db } = database;
  const profile = await insertProfile(db, {
    email: `${randomUUID()}@example.test`,
    name: 'Leaving Person',
    passwordHash: 'unused',
  });
  const siteIds: string[] = [];
  for (let i = 0; i < siteCount; i++) {
    const [site] = await db
      .insert(sites)
      .values({ name: `Site ${i}` })
      .returning({ id: sites.id });
    siteIds.push(site!.id);
  }
  const { request } = await fileDeletionRequest(db, profile!.id, new Date(Date.now() + 86_400_000));
  await insertConsents(db, request.id, siteIds);
  const links = new Map<string, string>();
  for (const siteId of siteIds) {
    const tokenHash = randomBytes(32).toString('hex');
    const set = await setConsentToken(db, {
      requestId: request.id,
      siteId,
      tokenHash,
      expiresAt: new Date(Date.now() + 3_600_000),
      reminded: false,
      now: now(),
    });
    expect(set).toBe(true);
    links.set(siteId, tokenHash);
  }
  return { requestId: request.id, siteIds, links };
}

async function stored(requestId: string) {
  const [request] = await database.db
    .select({ status: deletionRequests.status, finishedAt: deletionRequests.finishedAt })
    .from(deletionRequests)
    .where(eq(deletionRequests.id, requestId));
  const links = await database.db
    .select({ tokenHash: deletionConsents.tokenHash })
    .from(deletionConsents)
    .where(eq(deletionConsents.requestId, requestId));
  return { ...request!, liveLinks: links.filter((l) => l.tokenHash !== null).length };
}

describe('the deadline ends a request from the answers stored by then', () => {
  it('without every answer it times out and kills the links', async () => {
    const r = await openRequest(2);
    expect(
      await recordConsentByToken(database.db, r.links.get(r.siteIds[0]!)!, 'approved', now()),
    ).toBeDefined();
    expect(await finishDeletionRequest(database.db, r.requestId, 'timed_out', now())).toBe('timed_out');
    expect(await stored(r.requestId)).toMatchObject({ status: 'timed_out', liveLinks: 0 });
    expect(
      await recordConsentByToken(database.db, r.links.get(r.siteIds[1]!)!, 'denied', now()),
    ).toBeUndefined();
  });

  it('a denial stored after the workflow last read the answers makes it denied', async () => {
    const r = await openRequest(2);
    expect(
      await recordConsentByToken(database.db, r.links.get(r.siteIds[1]!)!, 'denied', now()),
    ).toBeDefined();
    expect(await finishDeletionRequest(database.db, r.requestId, 'timed_out', now())).toBe('denied');
    const end = await stored(r.requestId);
    expect(end).toMatchObject({ status: 'denied', liveLinks: 0 });
    expect(end.finishedAt).not.toBeNull();
  });

  it('every site approved keeps it open for the deletion, links and all', async () => {
    const r = await openRequest(2);
    for (const siteId of r.siteIds)
      expect(await recordConsentByToken(database.db, r.links.get(siteId)!, 'approved', now())).toBeDefined();
    expect(await finishDeletionRequest(database.db, r.requestId, 'timed_out', now())).toBe(
      'awaiting_consent',
    );
    expect(await stored(r.requestId)).toMatchObject({ status: 'awaiting_consent', finishedAt: null });
  });

  it('other ends are not decided again, and an ended request keeps its end', async () => {
    const r = await openRequest(1);
    expect(
      await recordConsentByToken(database.db, r.links.get(r.siteIds[0]!)!, 'approved', now()),
    ).toBeDefined();
    expect(await finishDeletionRequest(database.db, r.requestId, 'blocked_owner', now())).toBe(
      'blocked_owner',
    );
    expect(await finishDeletionRequest(database.db, r.requestId, 'timed_out', now())).toBe('blocked_owner');
    expect(await stored(r.requestId)).toMatchObject({ status: 'blocked_owner', liveLinks: 0 });
  });

  it('an answer in flight when the end comes is waited for and counted', async () => {
    const r = await openRequest(2);
    let finishing: Promise<unknown> | undefined;
    await database.db.transaction(async (tx) => {
      expect(await recordConsentByToken(tx, r.links.get(r.siteIds[0]!)!, 'denied', now())).toBeDefined();
      finishing = finishDeletionRequest(database.db, r.requestId, 'timed_out', now());
      // The end waits on the answer's row lock until the page's transaction commits.
      for (let waited = 0; ; waited += 10) {
        const [row] = await database.sql`
          select count(*)::int as n from pg_stat_activity
          where wait_event_type = 'Lock' and query like '%deletion_consents%for update%'`;
        if (row?.n === 1) break;
        if (waited > 10_000) throw new Error('the end never waited for the answer');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    });
    expect(await finishing).toBe('denied');
  });
});

describe('the request opened while a cancel commits', () => {
  it('is waited for: the cancel stands, no deadline is set and no site is asked', async () => {
    const { db } = database;
    const person = await insertProfile(db, {
      email: `${randomUUID()}@example.test`,
      name: 'Leaving Person',
      passwordHash: 'unused',
    });
    const [site] = await db.insert(sites).values({ name: 'Site' }).returning({ id: sites.id });
    await db.insert(memberships).values({ siteId: site!.id, profileId: person!.id, role: 'user' });
    const { request } = await fileDeletionRequest(db, person!.id, new Date(Date.now() + 86_400_000));
    const planned = new Date(Date.now() + 30 * 86_400_000);
    let opening: ReturnType<typeof openDeletionRequest> | undefined;
    await db.transaction(async (tx) => {
      expect(await cancelDeletionRequest(tx, request.id, now())).toBe('canceled');
      opening = openDeletionRequest(db, { requestId: request.id, deadlineAt: planned });
      await untilAnsweredOrWaiting(database.sql, opening);
    });
    expect(await opening).toMatchObject({ status: 'canceled', consents: [] });
    const [stored] = await db.select().from(deletionRequests).where(eq(deletionRequests.id, request.id));
    expect(stored?.status).toBe('canceled');
    expect(stored?.deadlineAt.getTime()).not.toBe(planned.getTime());
    expect(await listConsents(db, request.id)).toEqual([]);
  });
});

describe('generated interleavings of consent pages and the deadline', () => {
  it('an answer is recorded exactly when the end counts it', async () => {
    const answer = fc.record({
      decision: fc.constantFrom('approved' as const, 'denied' as const),
      delayMs: fc.nat(6),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(answer, { minLength: 1, maxLength: 3 }),
        fc.nat(6),
        async (answers, finishDelayMs) => {
          const r = await openRequest(answers.length);
          const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
          const [end, ...recorded] = await Promise.all([
            pause(finishDelayMs).then(() =>
              finishDeletionRequest(database.db, r.requestId, 'timed_out', now()),
            ),
            ...answers.map((a, i) =>
              pause(a.delayMs).then(() =>
                recordConsentByToken(database.db, r.links.get(r.siteIds[i]!)!, a.decision, now()),
              ),
            ),
          ]);
          const counted = answers.filter((_, i) => recorded[i] !== undefined);
          const want = counted.some((a) => a.decision === 'denied')
            ? 'denied'
            : counted.length === answers.length && counted.every((a) => a.decision === 'approved')
              ? 'awaiting_consent'
              : 'timed_out';
          expect(end).toBe(want);
          expect((await stored(r.requestId)).status).toBe(want);
          // What is stored is what the pages were told: recorded answers, and pending for the rest.
          const consents = await listConsents(database.db, r.requestId);
          for (const [i, siteId] of r.siteIds.entries()) {
            const decision = consents.find((c) => c.siteId === siteId)?.decision;
            expect(decision).toBe(recorded[i] ? answers[i]!.decision : 'pending');
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
