import type { DbOrTx } from '../client';
import { events } from '../schema';

export type NewEvent = typeof events.$inferInsert;

/** Appends to a site's audit trail; callers pass their transaction so the event commits with the change. */
export async function recordEvent(db: DbOrTx, event: NewEvent): Promise<void> {
  await db.insert(events).values(event);
}
