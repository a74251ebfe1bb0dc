import type { Client } from '@temporalio/client';
import type { Db } from '../db/client';
import {
  claimQueuedNotifications,
  deleteQueuedNotifications,
  type QueuedNotification,
} from '../db/queries/notification-outbox';
import { errorField, logger } from '../observability/logger';
import { signalNotificationEvent } from '../workflows/client/notifications';

/** Rows handed over per transaction. */
const BATCH = 100;
/** A hand-over waits this long for Temporal, so an outage holds no row lock for long. */
const SIGNAL_DEADLINE_MS = 5_000;

export interface NotificationRelay {
  /**
   * Hands the queued notifications (notification_outbox) to their sites' `notifications-<siteId>`
   * workflows and deletes what was handed over. Never throws and never runs twice at once: a kick
   * during a hand-over runs one more round after it. Resolves with how many its round handed over.
   */
  handOver(): Promise<number>;
  /** Also hands over every `intervalMs`, for what a failed hand-over (Temporal away) left queued. */
  start(intervalMs: number): void;
  stop(): Promise<void>;
}

/**
 * K6 delivery: events are queued in the transaction that records them (recordEventForOwner); this
 * relay signals them with signalWithStart, so the workflow starts when it is not running. A crash
 * between the signal and the delete signals an event again; the workflow ignores a repeated id and
 * the email's idempotency key covers one already sent.
 */
export function createNotificationRelay(deps: {
  db: Db;
  temporal: Client;
  taskQueue: string;
  /** Tests shorten the rate-limit window. */
  windowSeconds?: number;
}): NotificationRelay {
  let current: Promise<number> | undefined;
  let next: Promise<number> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const signal = (row: QueuedNotification) =>
    deps.temporal.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () =>
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

  const run = async () => {
    let total = 0;
    try {
      for (;;) {
        const { handed, more } = await batch();
        total += handed;
        if (!more) return total;
      }
    } catch (error) {
      logger.warn({ err: errorField(error) }, 'owner notification hand-over failed');
      return total;
    }
  };

  const relay: NotificationRelay = {
    handOver() {
      if (!current) {
        current = run().finally(() => {
          current = undefined;
        });
        return current;
      }
      // A hand-over is running and may have passed rows queued since: one more round follows it,
      // shared by every kick that arrives meanwhile.
      next ??= current.then(() => {
        next = undefined;
        return relay.handOver();
      });
      return next;
    },
    start(intervalMs) {
      // handOver never throws; a round still running makes this tick share the next one.
      timer ??= setInterval(() => void relay.handOver(), intervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await next;
      await current;
    },
  };
  return relay;
}
