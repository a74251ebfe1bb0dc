import { asc, inArray, sql } from 'drizzle-orm';
import { notificationChoiceOf } from '../../domain/notifications';
import type { Db, DbOrTx } from '../client';
import { events, notificationOutbox } from '../schema';
import { type NewEvent, recordEvent } from './events';

export type QueuedNotification = typeof notificationOutbox.$inferSelect;

/**
 * Records an event and, in the same transaction, queues it for the owner's notification when its
 * type is one the site's owner chose (K6). True when it was queued: the caller then asks the relay
 * to hand it over.
 */
export async function recordEventForOwner(db: Db, event: NewEvent & { id: string }): Promise<boolean> {
  const choice = notificationChoiceOf(event.type);
  if (choice === undefined) {
    await recordEvent(db, event);
    return false;
  }
  return db.transaction(async (tx) => {
    await recordEvent(tx, event);
    // One statement: the site's current choice decides, read in this transaction.
    const queued = await tx.execute(sql`
      insert into notification_outbox (event_id, site_id)
      select ${event.id}::uuid, id from sites
      where id = ${event.siteId}::uuid and ${choice} = any(notify_event_types)
      returning event_id`);
    return queued.length > 0;
  });
}

/**
 * K8: a device event, stored once per (IQ, device event id) and, like any event, queued for the
 * owner's notification in the same transaction when its type is one the owner chose. A repeat stores
 * and queues nothing.
 */
export async function recordDeviceEventForOwner(
  db: Db,
  event: NewEvent & { id: string; iqId: string; deviceEventId: string },
): Promise<{ stored: boolean; queued: boolean }> {
  const choice = notificationChoiceOf(event.type);
  return db.transaction(async (tx) => {
    const [stored] = await tx
      .insert(events)
      .values(event)
      .onConflictDoNothing({
        target: [events.iqId, events.deviceEventId],
        where: sql`${events.deviceEventId} is not null`,
      })
      .returning({ id: events.id });
    if (!stored || choice === undefined) return { stored: stored !== undefined, queued: false };
    const queued = await tx.execute(sql`
      insert into notification_outbox (event_id, site_id)
      select ${event.id}::uuid, id from sites
      where id = ${event.siteId}::uuid and ${choice} = any(notify_event_types)
      returning event_id`);
    return { stored: true, queued: queued.length > 0 };
  });
}

/** The oldest queued notifications, locked for this transaction; rows another relay holds are skipped. */
export function claimQueuedNotifications(tx: DbOrTx, limit: number): Promise<QueuedNotification[]> {
  return tx
    .select()
    .from(notificationOutbox)
    .orderBy(asc(notificationOutbox.createdAt))
    .limit(limit)
    .for('update', { skipLocked: true });
}

export async function deleteQueuedNotifications(tx: DbOrTx, eventIds: string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await tx.delete(notificationOutbox).where(inArray(notificationOutbox.eventId, eventIds));
}
