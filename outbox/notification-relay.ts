import type { Client } from '@temporalio/client';
import { withTemporalDeadline } from '../config/temporal-call-context';
import type { Db } from '../db/client';
import {
  claimQueuedNotifications,
  deleteQueuedNotifications,
  type QueuedNotification,
} from '../db/queries/notification-outbox';
import { errorField, logger } from '../observability/logger';
import { signalNotificationEvent } from '../workflows/client/notifications';
import { createRelayLoop, drainBatches, type RelayLoop } from './relay-loop';

/** Rows handed over per transaction. */
const BATCH = 100;
/** A hand-over waits this long for Temporal, so an outage holds no row lock for long. */
const SIGNAL_DEADLINE_MS = 5_000;

/**
 * Hands the queued notifications (notification_outbox) to their sites' `notifications-<siteId>`
 * workflows and deletes what was handed over (the schedule: relay-loop.ts).
 */
export type NotificationRelay = RelayLoop;

/**
 * K6 delivery: events are queued in the transaction that records them (recordEventForOwner); this
 * relay signals them with signalWithStart, so the workflow starts when it is not running. A crash
 * between the signal and the delete, or a signal that reached Temporal but answered after its
 * deadline, signals an event again: the workflow ignores an id it still holds, and the email activity
 * skips one another email has claimed (notified_events), in this run or an earlier one.
 */
export function createNotificationRelay(deps: {
  db: Db;
  temporal: Client;
  taskQueue: string;
  /** Tests shorten the rate-limit window. */
  windowSeconds?: number;
}): NotificationRelay {
  const signal = (row: QueuedNotification) =>
    withTemporalDeadline(deps.temporal, SIGNAL_DEADLINE_MS, () =>
      signalNotificationEvent(deps.temporal, {
        taskQueue: deps.taskQueue,
        siteId: row.siteId,
        eventId: row.eventId,
        windowSeconds: deps.windowSeconds,
      }),
    );

  /** One batch in one transaction: claimed rows stay locked until the handed ones are deleted. */
  const batch = () =>
    deps.db.transaction(async (tx) => {
      const rows = await claimQueuedNotifications(tx, BATCH);
      const handed: string[] = [];
      let failed = false;
      for (const row of rows) {
        try {
          await signal(row);
          handed.push(row.eventId);
        } catch (error) {
          logger.warn(
            { eventId: row.eventId, siteId: row.siteId, err: errorField(error) },
            'owner notification stays queued',
          );
          failed = true;
          break;
        }
      }
      await deleteQueuedNotifications(tx, handed);
      return { handed: handed.length, more: !failed && rows.length === BATCH };
    });

  return createRelayLoop(
    drainBatches(batch, (error) =>
      logger.warn({ err: errorField(error) }, 'owner notification hand-over failed'),
    ),
  );
}
