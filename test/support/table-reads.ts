import { sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client';

type ByTable = Record<string, number>;

/**
 * What `work` read of `tables`, run in a transaction of its own: by table, the whole-table scans,
 * the index scans, and the rows and index entries returned. From PostgreSQL's counts of what this
 * connection did and has not reported yet (it reports them at most once a second, so earlier work
 * may still be in them): read before and after, the difference is what came between.
 */
export async function readsDuring<T>(db: Db, tables: readonly string[], work: (tx: Tx) => Promise<T>) {
  return db.transaction(async (tx) => {
    const before = await readsSoFar(tx, tables);
    const result = await work(tx);
    const after = await readsSoFar(tx, tables);
    const made = (of: keyof typeof after) =>
      Object.fromEntries(tables.map((t) => [t, (after[of][t] ?? 0) - (before[of][t] ?? 0)])) as ByTable;
    return { result, wholeTableScans: made('seq'), indexScans: made('idx'), rowsRead: made('rows') };
  });
}

async function readsSoFar(tx: Tx, tables: readonly string[]) {
  const rows = await tx.execute<{ relname: string; seq: number; idx: number; rows: number }>(sql`
    select c.relname, pg_stat_get_xact_numscans(c.oid)::int as seq,
      coalesce((select sum(pg_stat_get_xact_numscans(i.indexrelid)) from pg_index i
        where i.indrelid = c.oid), 0)::int as idx,
      (pg_stat_get_xact_tuples_returned(c.oid) + coalesce((
        select sum(pg_stat_get_xact_tuples_returned(i.indexrelid)) from pg_index i
        where i.indrelid = c.oid), 0))::int as rows
    from pg_class c
    where c.relname = any(${`{${tables.join(',')}}`}::text[]) and c.relkind = 'r'
      and c.relnamespace = 'public'::regnamespace`);
  const of = (k: 'seq' | 'idx' | 'rows') => Object.fromEntries(rows.map((r) => [r.relname, r[k]])) as ByTable;
  return { seq: of('seq'), idx: of('idx'), rows: of('rows') };
}
