import type { DbOrTx } from './client';

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
