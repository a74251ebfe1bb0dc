import { eq, sql } from 'drizzle-orm';
import {
  decideAttempt,
  settleAttempt,
  type ThrottleDecision,
  type ThrottlePolicy,
} from '../../domain/throttling';
import type { Db, DbOrTx, Tx } from '../client';
import { rawStatement } from '../prepared';
import { throttles } from '../schema';

export interface ThrottleKey {
  key: string;
  policy: ThrottlePolicy;
}

/** A row inserted only to be locked: an instant before any attempt, so it counts nothing. */
const NOTHING_COUNTED = new Date(0);

/**
 * The keys' rows, each created when missing (counting nothing) or locked as it is, in one statement
 * and in key order (code-unit order, as `sort` gives it): the one order every take and settle locks
 * in, so two that share keys wait in turn and never crosswise (40P01). A settle that locked only the
 * rows there were could meet one a take created meanwhile, out of that order.
 */
async function lockKeys(tx: Tx, keys: readonly string[]): Promise<Array<{ key: string; tat: Date }>> {
  const rows = await lockKeysStatement(tx, {
    keys: JSON.stringify([...new Set(keys)].sort()),
    nothing: NOTHING_COUNTED.toISOString(),
  });
  return rows.map((r) => ({ key: r.key, tat: throttles.tat.mapFromDriverValue(r.tat) as Date }));
}

/** lockKeys' statement, built once (issue 15: drizzle built the insert anew in every transaction). */
const lockKeysStatement = rawStatement<{ keys: string; nothing: string }, { key: string; tat: string }>(
  (v) => sql`
    insert into throttles (key, tat)
    select k.key, ${v('nothing')}::timestamptz
    from jsonb_array_elements_text(${v('keys')}::jsonb) with ordinality as k(key, n)
    order by k.n
    on conflict (key) do update set tat = throttles.tat
    returning key, tat`,
);

/** An attempt the keys refused; thrown inside a transaction, it rolls back what the caller began. */
export class AttemptRefused extends Error {
  constructor(
    readonly key: string,
    readonly retryAfterMs: number,
    /** The instant it was decided at (its 429 says when to try again from there). */
    readonly at: Date,
  ) {
    super(`attempt refused on ${key.slice(0, key.indexOf(':'))}`);
  }
}

/**
 * The instant an attempt is decided at: a clock is read once the keys are locked, so a burst's
 * attempts are decided at instants in the order they hold the lock. Read before (as each request
 * read its own), one that waited longer could be decided at an earlier instant than the attempts
 * counted before it, find them counted from after its own "now", and be refused: of a burst of
 * exactly `limit`, one in a few rounds got `limit - 1`. A Date is that instant as given (tests).
 */
export type ThrottleClock = Date | (() => Date);

/** A decision and the instant it was made at (the clock as read once the keys were locked). */
export type TimedDecision = ThrottleDecision & { at: Date };

const readClock = (now: ThrottleClock) => (typeof now === 'function' ? now() : now);

/**
 * Goes on only with an allowed decision: a refused one is thrown as AttemptRefused (with the instant
 * it was decided at), rolling back the transaction it was decided in.
 */
export function refuseUnlessAllowed(
  decision: TimedDecision,
): asserts decision is TimedDecision & { allowed: true } {
  if (!decision.allowed) throw new AttemptRefused(decision.key, decision.retryAfterMs, decision.at);
}

/**
 * One attempt against every key, decided in the caller's transaction: the keys' rows are locked
 * (lockKeys) and only then read and decided, so of a burst sent at once exactly `limit` attempts get
 * through. Nothing is counted yet: the caller writes the decision (writeThrottles) before it commits.
 */
export async function decideInTransaction(
  tx: Tx,
  keys: readonly ThrottleKey[],
  now: ThrottleClock,
): Promise<TimedDecision> {
  // In key order: of two keys that wait as long, a refusal always names the same one.
  const unique = [...new Map(keys.map((k) => [k.key, k])).values()].sort((a, b) =>
    a.key < b.key ? -1 : a.key > b.key ? 1 : 0,
  );
  if (unique.length === 0) return { allowed: true, tats: [], at: readClock(now) };
  const rows = await lockKeys(
    tx,
    unique.map((k) => k.key),
  );
  const held = new Map(rows.map((r) => [r.key, r.tat.getTime()]));
  const at = readClock(now);
  const decision = decideAttempt(
    unique.map((k) => ({ key: k.key, policy: k.policy, tatMs: held.get(k.key) })),
    at.getTime(),
  );
  return { ...decision, at };
}

/**
 * The keys' rows by primary key, from key arrays: joined with the JSON rows themselves (which
 * PostgreSQL guesses at 100), the rows were found by reading the whole table, twice (8.5 ms a write
 * at 30,000 keys; test/db/throttle-writes-by-key).
 */
const writeStatement = rawStatement<{ cleared: string; tats: string }>(
  (v) => sql`
    with cleared as (
      delete from throttles where key = any(array(select jsonb_array_elements_text(${v('cleared')}::jsonb))))
    update throttles t set tat = x.tat
    from jsonb_to_recordset(${v('tats')}::jsonb) as x(key text, tat timestamptz)
    where t.key = any(array(select jsonb_array_elements(${v('tats')}::jsonb) ->> 'key')) and t.key = x.key`,
);

/** Each key's new instant and the `cleared` keys forgotten, in one statement, on rows the caller locked. */
export async function writeThrottles(
  tx: Tx,
  write: { tats: ReadonlyArray<{ key: string; tatMs: number }>; cleared?: readonly string[] },
): Promise<void> {
  const cleared = write.cleared ?? [];
  if (write.tats.length + cleared.length === 0) return;
  const tats = write.tats.map(({ key, tatMs }) => ({ key, tat: new Date(tatMs).toISOString() }));
  await writeStatement(tx, { cleared: JSON.stringify(cleared), tats: JSON.stringify(tats) });
}

/**
 * One attempt against every key, checked and counted atomically in a transaction of its own
 * (decideInTransaction, then writeThrottles when allowed). A refused attempt counts on no key.
 */
export function takeThrottle(
  db: Db,
  keys: readonly ThrottleKey[],
  now: ThrottleClock,
): Promise<TimedDecision> {
  if (keys.length === 0) return Promise.resolve({ allowed: true, tats: [], at: readClock(now) });
  return db.transaction(async (tx) => {
    const decision = await decideInTransaction(tx, keys, now);
    if (decision.allowed) await writeThrottles(tx, { tats: decision.tats });
    return decision;
  });
}

/**
 * What a try that turned out to be no failure leaves counted: everything on the `clear` keys is
 * forgotten and one attempt is given back on each `refund` key. The rows are locked first, as a take
 * locks them (lockKeys): a settle racing takes or settles on the same keys (a burst of redemptions of
 * one code, one of them the success) waits its turn instead of deadlocking.
 */
export async function settleThrottles(
  db: DbOrTx,
  keys: { clear?: readonly ThrottleKey[]; refund?: readonly ThrottleKey[] },
): Promise<void> {
  const clear = (keys.clear ?? []).map((k) => k.key);
  const refund = keys.refund ?? [];
  if (clear.length + refund.length === 0) return;
  await db.transaction(async (tx) => {
    const rows = await lockKeys(tx, [...clear, ...refund.map((k) => k.key)]);
    // The locked rows' instants, settled as a redemption's claim settles its own (settleAttempt).
    const held = rows.map((r) => ({ key: r.key, tatMs: r.tat.getTime() }));
    await writeThrottles(tx, settleAttempt(held, true, { clear, refund }));
  });
}

/** Gives one attempt back on each key (a counted try that turned out to be no failure). */
export const refundThrottle = (db: DbOrTx, keys: readonly ThrottleKey[]) =>
  settleThrottles(db, { refund: keys });

/** Forgets everything counted on a key. */
export async function clearThrottle(db: DbOrTx, key: string): Promise<void> {
  await db.delete(throttles).where(eq(throttles.key, key));
}

/**
 * Rows whose every attempt has long been given back; a take that races this one recreates its row.
 * Rows a take or settle holds are skipped (they are being written, and the next sweep sees them): the
 * sweep never waits on a row, so it cannot deadlock with them.
 */
export async function pruneThrottles(db: DbOrTx, before: Date): Promise<number> {
  const gone = await db.execute<{ key: string }>(sql`
    delete from throttles where key in (
      select key from throttles where tat < ${before.toISOString()}::timestamptz for update skip locked)
    returning key`);
  return gone.length;
}
