import type { Sql, TransactionSql } from 'postgres';

/**
 * Resolves once `answer` settles or a statement of this database waits on a lock, whichever comes
 * first; the polling ends either way, so nothing polls on once the test has moved on. A test holding
 * a row lock uses it to act only after the request under test either finished or is waiting for it.
 */
export async function untilAnsweredOrWaiting(sql: Sql, answer: Promise<unknown>): Promise<void> {
  let answered = false;
  const settle = () => {
    answered = true;
  };
  void answer.then(settle, settle);
  for (let i = 0; i < 400 && !answered; i++) {
    const [row] = await sql`select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`;
    if ((row?.n as number) > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Runs `statements` in a transaction of its own and keeps it open, its locks held, until `commit`:
 * a change caught between its writes and its commit, as a request running beside it sees it.
 */
export async function heldTransaction(sql: Sql, statements: (tx: TransactionSql) => Promise<unknown>) {
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let written!: () => void;
  const ready = new Promise<void>((r) => {
    written = r;
  });
  const done = sql.begin(async (tx) => {
    await statements(tx);
    written();
    await released;
  });
  await Promise.race([ready, done]);
  return {
    async commit() {
      release();
      await done;
    },
  };
}
