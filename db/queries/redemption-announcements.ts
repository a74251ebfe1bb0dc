import { asc, inArray } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { redemptionAnnouncements } from '../schema';

export type RedemptionAnnouncement = typeof redemptionAnnouncements.$inferSelect;

/** The oldest queued announcements, locked for this transaction; rows another relay holds are skipped. */
export function claimRedemptionAnnouncements(tx: DbOrTx, limit: number): Promise<RedemptionAnnouncement[]> {
  return tx
    .select()
    .from(redemptionAnnouncements)
    .orderBy(asc(redemptionAnnouncements.createdAt), asc(redemptionAnnouncements.termId))
    .limit(limit)
    .for('update', { skipLocked: true });
}

export async function deleteRedemptionAnnouncements(tx: DbOrTx, termIds: string[]): Promise<void> {
  if (termIds.length === 0) return;
  await tx.delete(redemptionAnnouncements).where(inArray(redemptionAnnouncements.termId, termIds));
}
