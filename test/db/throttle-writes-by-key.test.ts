/**
 * A throttle's take, count and settle read only their keys' rows, however many other keys the table
 * holds (a login flood from many addresses leaves one row per address for up to an hour). The keys
 * came as JSON rows, which PostgreSQL guesses at 100: joined with a table of a few thousand rows it
 * planned a scan of the whole table, twice per write (3 ms a login at 10,000 rows, 8.5 ms at 30,000,
 * each while the keys' rows are locked). Watched through PostgreSQL's own count of the transaction's
 * scans (test/support/table-reads), on a planned table of 20,000 keys.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { decideInTransaction, type ThrottleKey, writeThrottles } from '../../db/queries/throttles';
import { settleAttempt, type ThrottlePolicy } from '../../domain/throttling';
import { createTestDatabase } from '../support/database';
import { readsDuring } from '../support/table-reads';

const OTHER_KEYS = 20_000;
const policy: ThrottlePolicy = { limit: 5, windowMs: 60_000 };
const keys: ThrottleKey[] = ['a', 'b', 'c'].map((k) => ({ key: `test:${k}`, policy }));

let database: Database;
beforeAll(async () => {
  database = await createTestDatabase();
  await database.db.execute(sql`
    insert into throttles (key, tat)
    select 'other:' || g, now() + interval '10 minutes' from generate_series(1, ${OTHER_KEYS}::int) g`);
  await database.db.execute(sql`analyze throttles`);
});
afterAll(async () => {
  await database?.close();
});

describe('throttle writes with 20,000 other keys in the table', () => {
  it('a count and a settle touch the throttles by key only, and write what they decided', async () => {
    // More rounds than PostgreSQL plans custom before it may settle on a generic plan (5).
    for (let round = 0; round < 8; round++) {
      const seen = await readsDuring(database.db, ['throttles'], async (tx) => {
        const decision = await decideInTransaction(tx, keys, new Date());
        if (!decision.allowed) throw new Error('the first attempts are allowed');
        await writeThrottles(tx, { tats: decision.tats });
        const held = decision.tats.map((t) => ({ key: t.key, tatMs: t.tatMs }));
        // A success: the first key forgotten, one attempt given back on the others.
        const settled = settleAttempt(held, true, {
          clear: [keys[0]!.key],
          refund: keys.slice(1),
        });
        await writeThrottles(tx, settled);
        return settled;
      });
      expect(seen.wholeTableScans.throttles, `round ${round}`).toBe(0);
      expect(seen.indexScans.throttles).toBeGreaterThan(0);
      const settled = seen.result;

      const rows = await database.db.execute<{ key: string; tat: Date }>(
        sql`select key, tat from throttles where key like 'test:%' order by key`,
      );
      expect(rows.map((r) => r.key)).toEqual(settled.tats.map((t) => t.key).sort());
      for (const t of settled.tats) {
        const row = rows.find((r) => r.key === t.key)!;
        expect(new Date(row.tat).getTime()).toBe(t.tatMs);
      }
    }
    const [others] = await database.db.execute<{ n: number }>(
      sql`select count(*)::int as n from throttles where key like 'other:%'`,
    );
    expect(others?.n).toBe(OTHER_KEYS);
  });
});
