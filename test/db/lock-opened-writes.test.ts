/**
 * recordLockOpened (db/queries/events.ts) on real PostgreSQL: openings recorded at the same time
 * share statements (rows of one statement share its transaction id, xmin), each is stored once, and a
 * row that cannot be stored fails only its own caller.
 */
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { recordLockOpened } from '../../db/queries/events';
import { events, sites } from '../../db/schema';
import { createTestDatabase } from '../support/database';

let database: Database;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const newSite = async (name: string) => {
  const [site] = await database.db.insert(sites).values({ name }).returning({ id: sites.id });
  return site!.id;
};

const opening = (siteId: string) => ({
  siteId,
  actorProfileId: randomUUID(),
  lockId: randomUUID(),
  iqId: randomUUID(),
});

const stored = (siteId: string) =>
  database.db.execute<{ lock_id: string; actor_profile_id: string; type: string; tx: string }>(
    sql`select lock_id, actor_profile_id, type, xmin::text as tx from events where site_id = ${siteId}::uuid`,
  );

describe('recordLockOpened', () => {
  it('stores openings recorded at once in fewer statements than openings, each once and whole', async () => {
    const siteId = await newSite('Grouped openings');
    const openings = Array.from({ length: 40 }, () => opening(siteId));
    await Promise.all(openings.map((o) => recordLockOpened(database.db, o)));

    const rows = await stored(siteId);
    expect(rows.map((r) => r.lock_id).sort()).toEqual(openings.map((o) => o.lockId).sort());
    const byLock = new Map(rows.map((r) => [r.lock_id, r]));
    for (const o of openings) {
      expect(byLock.get(o.lockId)).toMatchObject({ actor_profile_id: o.actorProfileId, type: 'lock.opened' });
    }
    // The first is written at once; the 39 that came while it was in flight, together.
    expect(new Set(rows.map((r) => r.tx)).size).toBe(2);
    // Each row's API text was written by PostgreSQL as for any event.
    const [one] = await database.db
      .select({ apiJson: events.apiJson })
      .from(events)
      .where(eq(events.lockId, openings[7]!.lockId));
    expect(JSON.parse(one!.apiJson)).toMatchObject({ type: 'lock.opened', lockId: openings[7]!.lockId });
  });

  it('fails only the opening whose row cannot be stored, not the others of its statement', async () => {
    const siteId = await newSite('One bad opening');
    const openings = Array.from({ length: 12 }, () => opening(siteId));
    // A site that does not exist (deleted meanwhile): its row breaks the foreign key.
    openings[5] = opening(randomUUID());
    const outcomes = await Promise.allSettled(openings.map((o) => recordLockOpened(database.db, o)));

    expect(outcomes.map((o) => o.status)).toEqual(
      openings.map((_, i) => (i === 5 ? 'rejected' : 'fulfilled')),
    );
    const reason = (outcomes[5] as PromiseRejectedResult).reason as { cause?: { code?: string } };
    expect(reason.cause?.code).toBe('23503'); // foreign_key_violation
    const rows = await stored(siteId);
    expect(rows.map((r) => r.lock_id).sort()).toEqual(
      openings
        .filter((_, i) => i !== 5)
        .map((o) => o.lockId)
        .sort(),
    );
  });
});
