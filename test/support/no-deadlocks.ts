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
