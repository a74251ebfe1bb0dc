import { getTableColumns } from 'drizzle-orm';
import { CasingCache } from 'drizzle-orm/casing';
import type { PgTable } from 'drizzle-orm/pg-core';
import { COLUMN_CASING } from '../client';

const sqlNames = new CasingCache(COLUMN_CASING);

/** A row as `row_to_json` writes it: the columns' SQL names, times as text. */
export type RowJson = Record<string, unknown>;

/**
 * A row of `table` that a statement answered as `row_to_json` (one statement reading several rows
 * of several tables, issue 15), read back as drizzle reads the row itself: each column from its SQL
 * name (the database's casing), through the column's own mapping (times to Dates, bigints to numbers).
 */
export function rowOfJson<T extends PgTable>(table: T, json: RowJson): T['$inferSelect'] {
  const row: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    const value = json[sqlNames.getColumnCasing(column)];
    row[key] = value == null ? null : column.mapFromDriverValue(value);
  }
  return row as T['$inferSelect'];
}
