import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';

/** The tables rows wait in until a relay hands them over (outbox/). */
export const OUTBOXES = ['redemption_announcements', 'notification_outbox', 'account_emails'] as const;
export type Outbox = (typeof OUTBOXES)[number];

export interface OutboxBacklog {
  outbox: Outbox;
  /** Rows not handed over yet, those a relay holds at this moment included. */
  queued: number;
  /** How long the oldest of them has waited, on the database's clock (0 when none waits). */
  oldestAgeSeconds: number;
}

/** Each outbox's count and oldest `created_at` (each table has an index on it), one row per outbox. */
const BACKLOGS = sql.raw(
  OUTBOXES.map(
    (table) =>
      `select '${table}' as outbox, count(*)::int as queued, min(created_at) as oldest from ${table}`,
  ).join(' union all '),
);

/**
 * Every outbox's backlog in one statement. Row locks do not block it, so a relay holding a batch is
 * counted, not waited for.
 */
export async function outboxBacklogs(db: DbOrTx): Promise<OutboxBacklog[]> {
  const rows = await db.execute<{ outbox: Outbox; queued: number; age: number }>(sql`
    select outbox, queued, coalesce(extract(epoch from now() - oldest), 0)::float8 as age
    from (${BACKLOGS}) backlog`);
  return rows.map((r) => ({ outbox: r.outbox, queued: r.queued, oldestAgeSeconds: Math.max(0, r.age) }));
}
