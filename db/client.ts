import { fileURLToPath } from 'node:url';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema';

export type Db = PostgresJsDatabase<typeof schema>;
/** A database handle or an open transaction: query functions accept either. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

export interface Database {
  db: Db;
  sql: postgres.Sql;
  close(): Promise<void>;
}

export function connectDatabase(
  url: string,
  opts: { max?: number; /** Called with each statement sent (benchmarks count them). */ onQuery?: () => void } = {},
): Database {
  const sql = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    ...(opts.onQuery ? { debug: opts.onQuery } : {}),
  });
  const db = drizzle(sql, { schema, casing: 'snake_case' });
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
