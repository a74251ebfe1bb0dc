import { eq, lt, sql } from 'drizzle-orm';
import {
  decideAttempt,
  emissionMs,
  type ThrottleDecision,
  type ThrottlePolicy,
} from '../../domain/throttling';
import type { Db, DbOrTx } from '../client';
import { throttles } from '../schema';

export interface ThrottleKey {
  key: string;
  policy: ThrottlePolicy;
}

/** A row inserted only to be locked: an instant before any attempt, so it counts nothing. */
const NOTHING_COUNTED = new Date(0);

/**
 * One attempt against every key, checked and counted atomically: the keys' rows are locked (in key
 * order, so concurrent attempts never deadlock) and only then read, decided and written, so of a
 * burst sent at once exactly `limit` attempts get through. A refused attempt counts on no key.
 */
export function takeThrottle(db: Db, keys: readonly ThrottleKey[], now: Date): Promise<ThrottleDecision> {
  const sorted = [...new Map(keys.map((k) => [k.key, k])).values()].sort((a, b) =>
    a.key < b.key ? -1 : a.key > b.key ? 1 : 0,
  );
  if (sorted.length === 0) return Promise.resolve({ allowed: true, tats: [] });
  return db.transaction(async (tx) => {
    // Insert-or-lock in one statement: a missing row is created, an existing one locked as it is.
    const rows = await tx
      .insert(throttles)
      .values(sorted.map((k) => ({ key: k.key, tat: NOTHING_COUNTED })))
      .onConflictDoUpdate({ target: throttles.key, set: { tat: sql`${throttles.tat}` } })
      .returning();
    const held = new Map(rows.map((r) => [r.key, r.tat.getTime()]));
    const decision = decideAttempt(
      sorted.map((k) => ({ key: k.key, policy: k.policy, tatMs: held.get(k.key) })),
      now.getTime(),
    );
    if (decision.allowed) {
      for (const { key, tatMs } of decision.tats) {
        await tx
          .update(throttles)
          .set({ tat: new Date(tatMs) })
          .where(eq(throttles.key, key));
      }
    }
    return decision;
  });
}

/** Gives one attempt back on each key (a counted try that turned out to be no failure). */
export async function refundThrottle(db: DbOrTx, keys: readonly ThrottleKey[]): Promise<void> {
  for (const { key, policy } of keys) {
    await db
      .update(throttles)
      .set({ tat: sql`${throttles.tat} - ${emissionMs(policy)} * interval '1 millisecond'` })
      .where(eq(throttles.key, key));
  }
}

/** Forgets everything counted on a key. */
export async function clearThrottle(db: DbOrTx, key: string): Promise<void> {
  await db.delete(throttles).where(eq(throttles.key, key));
}

/** Rows whose every attempt has long been given back; a take that races this one recreates its row. */
export async function pruneThrottles(db: DbOrTx, before: Date): Promise<number> {
  const gone = await db.delete(throttles).where(lt(throttles.tat, before)).returning({ key: throttles.key });
  return gone.length;
}
