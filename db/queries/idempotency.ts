import { and, eq } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { idempotencyRecords } from '../schema';

export type IdempotencyRecord = typeof idempotencyRecords.$inferSelect;

export async function findIdempotencyRecord(
  db: DbOrTx,
  scope: string,
  key: string,
): Promise<IdempotencyRecord | undefined> {
  const [row] = await db
    .select()
    .from(idempotencyRecords)
    .where(and(eq(idempotencyRecords.scope, scope), eq(idempotencyRecords.key, key)));
  return row;
}

/**
 * Written under the lock that orders the scope's requests, once findIdempotencyRecord found none
 * there: a record written meanwhile by anyone else fails the transaction rather than be overwritten
 * or hide this request's answer.
 */
export async function saveIdempotencyRecord(
  db: DbOrTx,
  record: { scope: string; key: string; requestHash: string; status: number; body: unknown },
): Promise<void> {
  await db.insert(idempotencyRecords).values(record);
}
