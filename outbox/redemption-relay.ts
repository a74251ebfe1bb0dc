import type { Client } from '@temporalio/client';
import type { Db, Tx } from '../db/client';
import { endedToLetOthersOn } from '../db/errors';
import {
  claimRedemptionAnnouncements,
  deleteRedemptionAnnouncements,
  type RedemptionAnnouncement,
} from '../db/queries/redemption-announcements';
import { EmailDeliveryError } from '../emails/mailer';
import { errorField, logger } from '../observability/logger';
import { subscriptionTeller } from '../workflows/client/subscription';
import { createRelayLoop, drainBatches, type RelayLoop } from './relay-loop';

/** Rows claimed, and announced side by side, per transaction (a slow email provider is waited for once). */
const BATCH = 32;

/**
 * Sends what a redemption announces once its term is committed (redemption_announcements, queued
 * in the claim's transaction): the telling of the site's workflow its row holds (signalWithStart),
 * then the IQ push and the receipt (`announce`, activities/subscription.ts
 * `createRedemptionAnnouncer`). The API kicks its own after each claim; the worker's sweeps, for rows a stopped process or a failed send left queued. Claimed
 * rows stay locked (other relays skip them) until they are announced and deleted in the same
 * transaction, whose connection `announce` runs its statements on (no second connection of the pool
 * is waited for while the rows are held). A relay that dies after sending leaves them queued and the
 * next round sends again: the workflow adopts no telling twice, and the receipt's idempotency key
 * makes the provider drop a second email. A row whose announcement failed stays queued.
 */
export function createRedemptionRelay(deps: {
  db: Db;
  /** Where the sites' workflows are told. */
  temporal: Client;
  taskQueue: string;
  /** Runs its statements on `tx`, the relay's transaction that holds the row. */
  announce: (row: RedemptionAnnouncement, tx: Tx) => Promise<unknown>;
}): RelayLoop {
  const tell = subscriptionTeller(deps.temporal, deps.taskQueue);
  const announced = async (row: RedemptionAnnouncement, tx: Tx) => {
    try {
      // First the workflow, which owns the term from now on (reminders, expiry); the row stays
      // queued until the telling, the push and the receipt are all done.
      if (row.workflowSignal) await tell(row.siteId, row.workflowSignal);
      await deps.announce(row, tx);
      return true;
    } catch (error) {
      // PostgreSQL ended the relay's transaction (a deadlock's victim): the batch runs again, whole
      // (db/client.ts), so this row does not stay queued.
      if (endedToLetOthersOn(error)) throw error;
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
      const done = await Promise.all(rows.map((row) => announced(row, tx)));
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
