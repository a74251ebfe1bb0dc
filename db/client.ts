import { fileURLToPath } from 'node:url';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type postgres from 'postgres';
import { postgresAt } from './connection-url';
import { endedToLetOthersOn, errorCodeOf } from './errors';

export type Db = PostgresJsDatabase;
/** A database handle or an open transaction: query functions accept either. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

export interface Database {
  db: Db;
  sql: postgres.Sql;
  close(): Promise<void>;
}

/** How drizzle names the columns in SQL: each TypeScript key in snake_case. */
export const COLUMN_CASING = 'snake_case';

/** Statements with at most this many parameters are prepared once per connection and reused. */
const MAX_PREPARED_PARAMETERS = 32;

/**
 * Drizzle asks postgres.js for an unnamed statement for every query it builds (`prepare: false`
 * unless the query is given a name), and postgres.js then sends a parameterized statement to be
 * parsed in a round trip of its own before executing it: two round trips, and a parse and a plan in
 * PostgreSQL, for every query (issue 15). Through this client postgres.js prepares each statement
 * once per connection and then only binds and executes it (its default for its own tagged queries).
 * Statements with many parameters (bulk inserts, long IN lists) stay unnamed, so what each
 * connection keeps stays bounded by the query shapes of the code.
 */
function preparing<T extends postgres.Sql | postgres.TransactionSql>(sql: T): T {
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property === 'unsafe') {
        return (query: string, parameters?: unknown[], options?: postgres.UnsafeQueryOptions) =>
          target.unsafe(query, parameters as never, {
            ...options,
            prepare: (parameters?.length ?? 0) <= MAX_PREPARED_PARAMETERS,
          });
      }
      if (property === 'begin' || property === 'savepoint') {
        // A transaction's (or savepoint's) own handle prepares its statements the same way.
        const open = Reflect.get(target, property, receiver) as (...args: unknown[]) => Promise<unknown>;
        const run = (args: unknown[]) => {
          const body = args.at(-1) as (tx: postgres.TransactionSql) => unknown;
          return open(...args.slice(0, -1), (tx: postgres.TransactionSql) => body(preparing(tx)));
        };
        return property === 'begin'
          ? (...args: unknown[]) => runAgainWhenEnded(() => run(args))
          : (...args: unknown[]) => run(args);
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

/** Runs of one transaction, the first included; then the failure is the caller's. */
const TRANSACTION_RUNS = 3;
const runAgain = new Map<string, number>();

/**
 * How many times this process ran a transaction again, by the SQLSTATE that ended it (the metrics;
 * tests of lock orders, where any at all is a deadlock).
 */
export function transactionsRunAgain(): ReadonlyMap<string, number> {
  return runAgain;
}

/**
 * A transaction that PostgreSQL ended to let others go on runs again, whole, after a short random
 * pause (so that two that deadlocked do not meet again in step): the request that made it is answered
 * instead of failing (lock orders are kept so this is rare: PostgreSQL's log names each deadlock's
 * statements). So a transaction's body must do nothing outside the database that a second run would
 * do wrong; what the relays send inside theirs is taken once by its receiver.
 */
async function runAgainWhenEnded<T>(transaction: () => Promise<T>): Promise<T> {
  for (let run = 1; ; run++) {
    try {
      return await transaction();
    } catch (error) {
      if (run >= TRANSACTION_RUNS || !endedToLetOthersOn(error)) throw error;
      const state = errorCodeOf(error)!;
      runAgain.set(state, (runAgain.get(state) ?? 0) + 1);
      await new Promise((resume) => setTimeout(resume, run * (5 + Math.random() * 20)));
    }
  }
}

/**
 * How long PostgreSQL lets a transaction of ours sit idle before it ends the session. A process that
 * falls silent inside one (its host lost, a network partition) would otherwise hold its locks until
 * the server's TCP keepalive noticed, about two hours by the operating system's defaults. The longest
 * wait of our own between two statements of a transaction is an email's send (SEND_TIMEOUT_MS, 10 s).
 */
export const IDLE_IN_TRANSACTION_MS = 60_000;

export function connectDatabase(
  url: string,
  opts: {
    max?: number;
    /** Called with each statement's text as it is sent (benchmarks count them; tests compare them). */
    onQuery?: (statement: string) => void;
    /** Default IDLE_IN_TRANSACTION_MS; tests shorten it. */
    idleInTransactionMs?: number;
  } = {},
): Database {
  const sql = postgresAt(url, {
    max: opts.max ?? 10,
    connection: { idle_in_transaction_session_timeout: opts.idleInTransactionMs ?? IDLE_IN_TRANSACTION_MS },
    onnotice: () => {},
    ...(opts.onQuery ? { debug: (_connection: number, statement: string) => opts.onQuery?.(statement) } : {}),
  });
  // No schema: nothing here uses drizzle's relational queries, whose builders (one per table) drizzle
  // would otherwise make again for every transaction (issue 15).
  const db = drizzle(preparing(sql), { casing: COLUMN_CASING });
  return { db, sql, close: () => sql.end({ timeout: 5 }) };
}

const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url));

/** Applies the committed drizzle-kit migrations; safe to run on every start. */
export async function applyMigrations(url: string): Promise<void> {
  const { db, close } = connectDatabase(url, { max: 1 });
  try {
    await migrate(db, { migrationsFolder });
  } finally {
    await close();
  }
}
