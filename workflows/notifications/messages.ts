// The messages of `notifications-<siteId>`, shared by the workflow and the outbox relay. The names
// are the wire names recorded in histories: never rename them.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { NotifyState } from '../../domain/notifications';

/** One matching event of the site: its id only (D10). */
export const notificationEventSignal = defineSignal<[{ eventId: string }]>('event');
export const notificationsStateQuery = defineQuery<NotifyState>('state');
