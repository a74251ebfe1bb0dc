import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { pruneThrottles, refundThrottle, type ThrottleKey, takeThrottle } from '../../db/queries/throttles';
import { throttles } from '../../db/schema';
import { decideAttempt, type ThrottlePolicy } from '../../domain/throttling';
import { createTestDatabase } from '../support/database';

/**
 * The worker's hourly sweep (`pruneThrottles`) on real PostgreSQL: it deletes exactly the rows whose
 * every attempt has been given back by time, so an attempt after the sweep is decided as it would
 * have been without it (a pruned row counted nothing), and a row still counting survives.
 */
let database: Database;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const policy: ThrottlePolicy = { limit: 3, windowMs: 60_000 };
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const key = (tag: string): ThrottleKey => ({ key: `prune:${tag}:${randomUUID()}`, policy });
const tatOf = async (k: ThrottleKey) => {
  const [row] = await database.db.select().from(throttles).where(eq(throttles.key, k.key));
  return row?.tat.getTime();
};

describe('pruneThrottles', () => {
  it('deletes a row once its instant has passed, keeps one that still counts, and says how many went', async () => {
    const spent = key('spent');
    const counting = key('counting');
    // Two attempts at T0 on `spent`: its instant is T0 + 2 × 20 s. Three at T0 + 30 s on `counting`
    // (a burst that uses its whole limit): T0 + 90 s.
    for (let i = 0; i < 2; i++)
      expect((await takeThrottle(database.db, [spent], new Date(T0))).allowed).toBe(true);
    for (let i = 0; i < 3; i++)
      expect((await takeThrottle(database.db, [counting], new Date(T0 + 30_000))).allowed).toBe(true);
    expect(await tatOf(spent)).toBe(T0 + 40_000);
    expect(await tatOf(counting)).toBe(T0 + 90_000);

    // At its instant the row still counts (an attempt then would find it equal to now).
    await pruneThrottles(database.db, new Date(T0 + 40_000));
    expect(await tatOf(spent)).toBe(T0 + 40_000);
    const gone = await pruneThrottles(database.db, new Date(T0 + 40_001));
    expect(gone).toBeGreaterThanOrEqual(1);
    expect(await tatOf(spent)).toBeUndefined();
    expect(await tatOf(counting)).toBe(T0 + 90_000);
    // `counting` still holds its burst: a fourth attempt now waits, sweep or no sweep; `spent` has
    // its whole limit back.
    expect((await takeThrottle(database.db, [counting], new Date(T0 + 40_001))).allowed).toBe(false);
    for (let i = 0; i < 3; i++)
      expect((await takeThrottle(database.db, [spent], new Date(T0 + 40_001))).allowed).toBe(true);
  });

  it('generated takes, refunds and sweeps: every later attempt is decided as without the sweep', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        // Offsets (ms after T0) of takes and refunds on one key, then the sweep's and the probe's.
        fc.array(
          fc.record({ op: fc.constantFrom('take', 'refund'), atMs: fc.integer({ min: 0, max: 120_000 }) }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        async (steps, sweepMs, probeAfterMs) => {
          runs++;
          const k = key('gen');
          const ordered = [...steps].sort((a, b) => a.atMs - b.atMs);
          for (const step of ordered) {
            if (step.op === 'take') await takeThrottle(database.db, [k], new Date(T0 + step.atMs));
            else await refundThrottle(database.db, [k]);
          }
          const lastMs = ordered.at(-1)!.atMs;
          const sweepAt = T0 + Math.max(sweepMs, lastMs);
          const before = await tatOf(k);
          await pruneThrottles(database.db, new Date(sweepAt));
          const after = await tatOf(k);
          // Gone exactly when its instant lay before the sweep; otherwise untouched.
          if (before !== undefined && before < sweepAt) expect(after).toBeUndefined();
          else expect(after).toBe(before);
          // The probe after the sweep decides as the unswept row would have.
          const probeAt = sweepAt + probeAfterMs;
          const expected = decideAttempt([{ key: k.key, policy, tatMs: before }], probeAt);
          const got = await takeThrottle(database.db, [k], new Date(probeAt));
          expect(got.allowed).toBe(expected.allowed);
          if (got.allowed && expected.allowed) expect(await tatOf(k)).toBe(expected.tats[0]?.tatMs);
        },
      ),
      { numRuns: 40 },
    );
    expect(runs).toBe(40);
  });

  it('a sweep racing attempts on the same keys loses no attempt that was allowed', async () => {
    const keys = Array.from({ length: 20 }, (_, i) => key(`race${i}`));
    // Old rows, spent long ago: the sweep takes them unless an attempt rewrote them first.
    for (const k of keys) await takeThrottle(database.db, [k], new Date(T0));
    const now = new Date(T0 + 3_600_000);
    const [decisions] = await Promise.all([
      Promise.all(keys.map((k) => takeThrottle(database.db, [k], now))),
      pruneThrottles(database.db, now),
    ]);
    expect(decisions.every((d) => d.allowed)).toBe(true);
    // Each attempt counted: its row holds now + 20 s, whichever order the two took.
    for (const k of keys) expect(await tatOf(k)).toBe(now.getTime() + 20_000);
  });
});
