/**
 * A redemption counts and settles its attempt in its claim's transaction (decideInTransaction, then
 * one writeThrottles of settleAttempt's result) instead of a take and a settle of their own. On real
 * PostgreSQL, generated sequences of attempts, successes and failures leave every key exactly where
 * the take-then-settle path leaves it, and both allow and refuse the same attempts.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import {
  decideInTransaction,
  settleThrottles,
  type ThrottleKey,
  takeThrottle,
  writeThrottles,
} from '../../db/queries/throttles';
import { throttles } from '../../db/schema';
import { settleAttempt, THROTTLES } from '../../domain/throttling';
import { createTestDatabase } from '../support/database';

let database: Database;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const keysOf = (prefix: string) => {
  const [actor, ...shared] = (['redeemActor', 'redeemSite', 'redeemAddress'] as const).map(
    (name): ThrottleKey => ({ key: `${name}:${prefix}`, policy: THROTTLES[name] }),
  );
  return { actor: actor!, shared };
};

const tatOf = async (key: string) => {
  const [row] = await database.db.select().from(throttles).where(eq(throttles.key, key));
  return row?.tat.getTime();
};

describe('a redemption settled in its claim leaves what a take and a settle leave', () => {
  it('generated attempts, outcomes and pauses', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ succeeded: fc.boolean(), afterMs: fc.nat(120_000) }), {
          minLength: 1,
          maxLength: 40,
        }),
        async (attempts) => {
          runs++;
          const apart = keysOf(`apart-${randomUUID()}`);
          const inClaim = keysOf(`claim-${randomUUID()}`);
          let nowMs = Date.parse('2026-12-04T12:00:00Z');
          for (const a of attempts) {
            nowMs += a.afterMs;
            const now = new Date(nowMs);
            const taken = await takeThrottle(database.db, [apart.actor, ...apart.shared], now);
            if (taken.allowed && a.succeeded) {
              await settleThrottles(database.db, { clear: [apart.actor], refund: apart.shared });
            }
            const decided = await database.db.transaction(async (tx) => {
              const attempt = await decideInTransaction(tx, [inClaim.actor, ...inClaim.shared], now);
              if (attempt.allowed) {
                await writeThrottles(
                  tx,
                  settleAttempt(attempt.tats, a.succeeded, {
                    clear: [inClaim.actor.key],
                    refund: inClaim.shared,
                  }),
                );
              }
              return attempt;
            });
            expect(decided.allowed).toBe(taken.allowed);
            for (const [i, k] of [apart.actor, ...apart.shared].entries()) {
              const other = [inClaim.actor, ...inClaim.shared][i]!;
              expect(await tatOf(other.key)).toBe(await tatOf(k.key));
            }
          }
        },
      ),
      { numRuns: 30 },
    );
    expect(runs).toBe(30);
  });
});
