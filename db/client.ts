import { fileURLToPath } from 'node:url';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type postgres from 'postgres';
import { postgresAt } from './connection-url';

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
        const open = Reflect.get(target, property, receiver) as (...args: unknown[]) => unknown;
        return (...args: unknown[]) => {
          const body = args.pop() as (tx: postgres.TransactionSql) => unknown;
          return open(...args, (tx: postgres.TransactionSql) => body(preparing(tx)));
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

export function connectDatabase(
  url: string,
  opts: {
    max?: number;
    /** Called with each statement's text as it is sent (benchmarks count them; tests compare them). */
    onQuery?: (statement: string) => void;
  } = {},
): Database {
  const sql = postgresAt(url, {
    max: opts.max ?? 10,
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
