import type postgres from 'postgres';
import { afterEach, beforeEach, expect } from 'vitest';
import { transactionsRunAgain } from '../../db/client';

/**
 * Every test: no transaction of this process was ended by PostgreSQL and run again (db/client.ts).
 * Such a run again answers the request, so without this check a deadlock (two changes taking their
 * locks in different orders) would pass unseen; a test that makes one on purpose says so first.
 */
let allowed = false;
let before = 0;
const runAgain = () => [...transactionsRunAgain().values()].reduce((sum, n) => sum + n, 0);

/** This test ends transactions on purpose (a deadlock of its own making). */
export function allowTransactionsRunAgain(): void {
  allowed = true;
}

beforeEach(() => {
  allowed = false;
  before = runAgain();
});

afterEach(() => {
  if (!allowed)
    expect(runAgain() - before, 'transactions ended by PostgreSQL (a deadlock) and run again').toBe(0);
});

/**
 * Ends the odd runs of the inserts into `at.table` that match `at.when` (SQL over `new`) as PostgreSQL
 * ends a deadlock's victim (40P01): such a transaction's first run fails there and its run again goes
 * through. A sequence counts the runs, since rollbacks do not undo it. `at.name` names the trigger,
 * its function and the sequence. Resolves with what removes them.
 */
export async function endOddRunsAsDeadlocked(
  sql: postgres.Sql,
  at: { name: string; table: string; when: string },
): Promise<() => Promise<void>> {
  await sql.unsafe(`create sequence ${at.name}_runs`);
  await sql.unsafe(`
    create function ${at.name}() returns trigger language plpgsql as $$
    begin
      if nextval('${at.name}_runs') % 2 = 1 then
        raise exception 'deadlock detected (a test''s)' using errcode = '40P01';
      end if;
      return new;
    end $$`);
  await sql.unsafe(`
    create trigger ${at.name} before insert on ${at.table}
    for each row when (${at.when}) execute function ${at.name}()`);
  return async () => {
    await sql.unsafe(`drop trigger ${at.name} on ${at.table}`);
    await sql.unsafe(`drop function ${at.name}`);
    await sql.unsafe(`drop sequence ${at.name}_runs`);
  };
}
