import type { Db } from '../db/client';
import {
  claimRedemptionAnnouncements,
  deleteRedemptionAnnouncements,
  type RedemptionAnnouncement,
} from '../db/queries/redemption-announcements';
import { EmailDeliveryError } from '../emails/mailer';
import { errorField, logger } from '../observability/logger';
import { createRelayLoop, drainBatches, type RelayLoop } from './relay-loop';

/** Rows claimed, and announced side by side, per transaction (a slow email provider is waited for once). */
const BATCH = 32;

/**
 * Sends what a redemption announces once its term is committed (redemption_announcements, queued
 * in the claim's transaction): the IQ push and the receipt (`announce`, built by the worker from
 * the subscription activities). The claim kicks it in the worker; the worker also sweeps, for rows a
 * stopped process or a failed send left queued. Claimed rows stay locked (other relays skip them)
 * until they are announced and deleted in the same transaction; a relay that dies after sending
 * leaves them queued and the next round sends again, which the receipt's idempotency key turns into
 * no second email. A row whose announcement failed stays queued for the next round.
 */
export function createRedemptionRelay(deps: {
  db: Db;
  announce: (row: RedemptionAnnouncement) => Promise<unknown>;
}): RelayLoop {
  const announced = async (row: RedemptionAnnouncement) => {
    try {
      await deps.announce(row);
      return true;
    } catch (error) {
      // The provider refused the receipt's content: sending it again cannot succeed.
      if (error instanceof EmailDeliveryError && !error.retryable) {
        logger.error({ termId: row.termId, err: errorField(error) }, 'redemption receipt refused');
        return true;
      }
      logger.warn({ termId: row.termId, err: errorField(error) }, 'redemption announcement stays queued');
      return false;
    }
  };

  const batch = () =>
    deps.db.transaction(async (tx) => {
      const rows = await claimRedemptionAnnouncements(tx, BATCH);
      const done = await Promise.all(rows.map(announced));
      const handed = rows.filter((_, i) => done[i]).map((row) => row.termId);
      await deleteRedemptionAnnouncements(tx, handed);
      return { handed: handed.length, more: rows.length === BATCH && handed.length === rows.length };
    });

  return createRelayLoop(
    drainBatches(batch, (error) =>
      logger.warn({ err: errorField(error) }, 'redemption announcements stay queued'),
    ),
  );
}
