/**
 * N7 for the throttles (db/queries/throttles.ts) on real PostgreSQL: takes, settles (a success
 * clearing the actor's key and refunding the shared ones), redemptions' counts and settles in one
 * transaction (decideInTransaction, writeThrottles) and the sweep, sent at once on overlapping
 * keys as a burst of redemptions of one code sends them, never fail. Before the settle locked its rows
 * in the takes' order, such a burst answered 500 (40P01 deadlock detected) to some of its requests,
 * the successful redemption's among them.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import {
  decideInTransaction,
  pruneThrottles,
  settleThrottles,
  type ThrottleKey,
  takeThrottle,
  writeThrottles,
} from '../../db/queries/throttles';
import { settleAttempt, type ThrottlePolicy } from '../../domain/throttling';
import { createTestDatabase } from '../support/database';

let database: Database;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const policy: ThrottlePolicy = { limit: 5, windowMs: 60_000 };

type Op =
  | { kind: 'take'; keys: number[]; delayMs: number }
  | { kind: 'claim'; succeeded: boolean; delayMs: number }
  | { kind: 'settle'; clear: number; delayMs: number }
  | { kind: 'prune'; delayMs: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('take' as const),
      keys: fc.shuffledSubarray([0, 1, 2], { minLength: 1 }),
      delayMs: fc.nat(3),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('claim' as const),
      succeeded: fc.boolean(),
      delayMs: fc.nat(3),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('settle' as const), clear: fc.nat(2), delayMs: fc.nat(3) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('prune' as const), delayMs: fc.nat(3) }) },
);

describe('throttles under concurrent takes, settles and sweeps', () => {
  it('generated bursts on overlapping keys, redemptions counted in their claims too: every call completes', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 4, maxLength: 16 }), async (ops) => {
        runs++;
        // Names like the real ones: the name, then a digest whose case and punctuation vary.
        const keys: ThrottleKey[] = ['redeemActor', 'redeemAddress', 'redeemSite'].map((name) => ({
          key: `${name}:${randomUUID().replaceAll('-', runs % 2 ? '_' : 'Z')}`,
          policy,
        }));
        const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
        const now = new Date();
        const outcomes = await Promise.allSettled(
          ops.map(async (o) => {
            await pause(o.delayMs);
            if (o.kind === 'take')
              return takeThrottle(
                database.db,
                o.keys.map((i) => keys[i]!),
                now,
              );
            if (o.kind === 'claim') {
              // A redemption's count and settle inside its claim's transaction (operations/subscription.ts).
              return database.db.transaction(async (tx) => {
                const attempt = await decideInTransaction(tx, keys, now);
                if (!attempt.allowed) return;
                const [actor, ...shared] = keys;
                await writeThrottles(
                  tx,
                  settleAttempt(attempt.tats, o.succeeded, { clear: [actor!.key], refund: shared }),
                );
              });
            }
            if (o.kind === 'settle') {
              return settleThrottles(database.db, {
                clear: [keys[o.clear]!],
                refund: keys.filter((_, i) => i !== o.clear),
              });
            }
            return pruneThrottles(database.db, now);
          }),
        );
        const failed = outcomes.filter((x) => x.status === 'rejected');
        expect(
          failed.map((x) => {
            const reason = (x as PromiseRejectedResult).reason as Error & { cause?: Error };
            return `${reason.message.split('\n')[0]} ${reason.cause?.message ?? ''} ${JSON.stringify(reason.cause)} ${reason.stack}`;
          }),
        ).toEqual([]);
      }),
      { numRuns: 150 },
    );
    expect(runs).toBe(150);
  });
});
