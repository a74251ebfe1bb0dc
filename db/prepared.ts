import { type Placeholder, type Query, type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { COLUMN_CASING, type DbOrTx } from './client';

/**
 * A query built once per database handle and then only executed (issue 15: building a query's SQL
 * in drizzle cost more CPU than sending it). The handle's query lives as long as the handle; a
 * transaction builds its own. Values come as `sql.placeholder`s; times as ISO strings (the driver
 * takes drizzle's own encoding of timestamps, which placeholders skip).
 */
export function preparedPer<T>(build: (db: DbOrTx) => T): (db: DbOrTx) => T {
  const built = new WeakMap<DbOrTx, T>();
  return (db) => {
    let query = built.get(db);
    if (query === undefined) {
      query = build(db);
      built.set(db, query);
    }
    return query;
  };
}

const dialect = new PgDialect({ casing: COLUMN_CASING });

/** Where a raw statement's value `name` goes. */
export type ValueOf<Values> = (name: keyof Values & string) => Placeholder;

/**
 * A raw statement (what `db.execute(sql`…`)` runs) whose text drizzle builds once, at its first run,
 * instead of at every run (issue 15: in a redemption's transaction, where `preparedPer` reuses
 * nothing, each statement was built anew, and drizzle made about a third of the API process's
 * garbage). `build` writes it with `value(name)` where each value goes; the function returned binds
 * `values` and runs it on any handle, a transaction's included, as `execute` would. Values are bound
 * as given (no column encoding): times as ISO strings.
 */
export function rawStatement<Values extends Record<string, unknown>, Row = Record<string, unknown>>(
  build: (value: ValueOf<Values>) => SQL,
): (db: DbOrTx, values: Values) => Promise<Row[]> {
  let query: Query | undefined;
  return (db, values) => {
    query ??= dialect.sqlToQuery(build((name) => sql.placeholder(name)));
    return db._.session.prepareQuery(query, undefined, undefined, false).execute(values) as Promise<Row[]>;
  };
}
