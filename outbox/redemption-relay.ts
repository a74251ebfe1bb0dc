import type { Db } from '../db/client';
import {
  claimRedemptionAnnouncements,
  deleteRedemptionAnnouncement,
  type RedemptionAnnouncement,
} from '../db/queries/redemption-announcements';
import { EmailDeliveryError } from '../emails/mailer';
import { errorField, logger } from '../observability/logger';
import { createRelayLoop, type RelayLoop } from './relay-loop';

/**
 * Sends what a redemption announces once its term is committed (redemption_announcements, queued
 * in the claim's transaction): the IQ push and the receipt (`announce`, built by the worker from
 * the subscription activities). The claim kicks it in the worker; the worker also sweeps, for rows a
 * stopped process or a failed send left queued. One row per transaction: the row stays locked (other
 * relays skip it) until it is announced and deleted; a relay that dies after sending leaves it queued
 * and the next round sends again, which the receipt's idempotency key turns into no second email.
 */
export function createRedemptionRelay(deps: {
  db: Db;
  announce: (row: RedemptionAnnouncement) => Promise<unknown>;
}): RelayLoop {
  const one = () =>
    deps.db.transaction(async (tx) => {
      const [row] = await claimRedemptionAnnouncements(tx, 1);
      if (!row) return false;
      try {
        await deps.announce(row);
      } catch (error) {
        // The provider refused the receipt's content: sending it again cannot succeed.
        if (!(error instanceof EmailDeliveryError) || error.retryable) throw error;
        logger.error({ termId: row.termId, err: errorField(error) }, 'redemption receipt refused');
      }
      await deleteRedemptionAnnouncement(tx, row.termId);
      return true;
    });

  return createRelayLoop(async () => {
    let handled = 0;
    try {
      while (await one()) handled++;
    } catch (error) {
      logger.warn({ err: errorField(error) }, 'redemption announcement stays queued');
    }
    return handled;
  });
}
