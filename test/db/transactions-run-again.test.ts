import { sql } from 'drizzle-orm';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, transactionsRunAgain } from '../../db/client';
import { registerTransactionMetrics } from '../../observability/transaction-metrics';
import { createTestDatabase } from '../support/database';
import { allowTransactionsRunAgain } from '../support/no-deadlocks';

/**
 * A transaction PostgreSQL ends as a deadlock's victim runs again, whole, and goes through (db/client.ts):
 * the request that made it is answered instead of failing with a 500. Other failures are not run again.
 */

let database: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  await database.sql`create table run_again_probe (id int primary key, n int not null)`;
  await database.sql`insert into run_again_probe values (1, 0), (2, 0)`;
});

afterAll(async () => {
  await database.close();
});

/** Resolves once `check` holds, polling. */
async function until(check: () => boolean) {
  while (!check()) await new Promise((r) => setTimeout(r, 10));
}

describe('transactions PostgreSQL ends to let others on', () => {
  it('two transactions that deadlock both commit: the victim runs again', async () => {
    allowTransactionsRunAgain();
    const { db } = database;
    const held = { first: false, second: false };
    const runs = { first: 0, second: 0 };
    // Each increments both rows, in opposite orders; on their first runs each holds its first row
    // until the other holds its own, so the second updates wait crosswise: a deadlock.
    const crosswise = (name: 'first' | 'second', rows: [number, number]) =>
      db.transaction(async (tx) => {
        runs[name]++;
        await tx.execute(sql`update run_again_probe set n = n + 1 where id = ${rows[0]}`);
        if (runs[name] === 1) {
          held[name] = true;
          await until(() => held.first && held.second);
        }
        await tx.execute(sql`update run_again_probe set n = n + 1 where id = ${rows[1]}`);
        return name;
      });

    const before = transactionsRunAgain().get('40P01') ?? 0;
    const outcomes = await Promise.allSettled([crosswise('first', [1, 2]), crosswise('second', [2, 1])]);
    expect(outcomes).toEqual([
      { status: 'fulfilled', value: 'first' },
      { status: 'fulfilled', value: 'second' },
    ]);
    // One of them was ended and ran again; its first run's update was rolled back, not counted twice.
    expect(runs.first + runs.second).toBe(3);
    const rows = await database.sql`select id, n from run_again_probe order by id`;
    expect(rows.map((r) => r.n)).toEqual([2, 2]);
    // Counted, and shown on the process's metrics.
    expect(transactionsRunAgain().get('40P01')).toBe(before + 1);
    const registry = new Registry();
    registerTransactionMetrics(registry);
    expect(await registry.metrics()).toContain(
      `db_transactions_run_again_total{sqlstate="40P01"} ${before + 1}`,
    );
  });

  it('a transaction ended again and again fails after its third run', async () => {
    allowTransactionsRunAgain();
    let runs = 0;
    const ended = Object.assign(new Error('deadlock detected'), { code: '40P01' });
    const failure = await database.db
      .transaction(async () => {
        runs++;
        throw ended;
      })
      .catch((error: unknown) => error);
    expect(failure).toBe(ended);
    expect(runs).toBe(3);
  });

  it('any other failure is not run again', async () => {
    let runs = 0;
    const failure = await database.db
      .transaction(async (tx) => {
        runs++;
        // A unique violation (23505): running again would fail the same way.
        await tx.execute(sql`insert into run_again_probe values (1, 0)`);
      })
      .catch((error: unknown) => error);
    expect((failure as { cause?: { code?: string } }).cause?.code).toBe('23505');
    expect(runs).toBe(1);
  });

  it('a transaction within a transaction (a savepoint) runs as before', async () => {
    const outcome = await database.db.transaction((tx) =>
      tx.transaction(async (inner) => {
        await inner.execute(sql`update run_again_probe set n = n where id = 1`);
        return 'inner';
      }),
    );
    expect(outcome).toBe('inner');
  });
});
