import type { Client } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import type { DbOrTx } from '../../db/client';
import { sites } from '../../db/schema';
import { notificationsWorkflowId } from '../ids';
import { matchesNotification, notificationChoiceOf } from '../notifications/decisions';
import type { notificationsWorkflow } from '../notifications/workflow';
import { SiteId } from '../search-attributes';

/** A recorded event, as the code that recorded it knows it. */
export interface RecordedEvent {
  siteId: string;
  eventId: string;
  type: string;
}

export type EventNotifier = (event: RecordedEvent) => Promise<void>;

/**
 * K6: hands an event the site's owner chose to `notifications-<siteId>` (signalWithStart: started
 * when not running). Call it after the event committed. It never throws: a notification that cannot
 * be handed over is logged, and the request or device message that recorded the event still succeeds.
 */
export function createEventNotifier(deps: {
  db: DbOrTx;
  temporal: Client;
  taskQueue: string;
  /** Tests shorten the rate-limit window. */
  windowSeconds?: number;
}): EventNotifier {
  return async ({ siteId, eventId, type }) => {
    // Most events are not notifiable at all: no query for them.
    if (notificationChoiceOf(type) === undefined) return;
    try {
      const [site] = await deps.db
        .select({ chosen: sites.notifyEventTypes })
        .from(sites)
        .where(eq(sites.id, siteId));
      if (!site || !matchesNotification(type, site.chosen)) return;
      await deps.temporal.workflow.signalWithStart<typeof notificationsWorkflow, [{ eventId: string }]>(
        'notificationsWorkflow',
        {
          workflowId: notificationsWorkflowId(siteId),
          taskQueue: deps.taskQueue,
          args: [
            { siteId, ...(deps.windowSeconds !== undefined ? { windowSeconds: deps.windowSeconds } : {}) },
          ],
          signal: 'event',
          signalArgs: [{ eventId }],
          typedSearchAttributes: [{ key: SiteId, value: siteId }],
        },
      );
    } catch (error) {
      console.error(
        `[notifications] event ${eventId} of site ${siteId} not handed over: ${(error as Error)?.message ?? error}`,
      );
    }
  };
}
