import type { Client } from '@temporalio/client';
import { notificationsWorkflowId } from '../ids';
import { notificationEventSignal } from '../notifications/messages';
import { notificationsWorkflow } from '../notifications/workflow';
import { SiteId } from '../search-attributes';

/**
 * Hands one event to its site's `notifications-<siteId>` workflow with signalWithStart, so the
 * workflow starts when it is not running. A repeated event id is emailed once: the workflow ignores
 * one it still holds, the email activity one already told of (notified_events).
 */
export async function signalNotificationEvent(
  temporal: Client,
  input: {
    taskQueue: string;
    siteId: string;
    eventId: string;
    /** Tests shorten the rate-limit window. */
    windowSeconds?: number | undefined;
  },
): Promise<void> {
  await temporal.workflow.signalWithStart(notificationsWorkflow, {
    workflowId: notificationsWorkflowId(input.siteId),
    taskQueue: input.taskQueue,
    args: [
      {
        siteId: input.siteId,
        ...(input.windowSeconds !== undefined ? { windowSeconds: input.windowSeconds } : {}),
      },
    ],
    signal: notificationEventSignal,
    signalArgs: [{ eventId: input.eventId }],
    typedSearchAttributes: [{ key: SiteId, value: input.siteId }],
    staticSummary: `Owner notifications of site ${input.siteId}`,
    staticDetails:
      "Emails the site owner the events they chose (K6): the first at once, the rest of each rate-limit window as one digest at its end. Ends after a quiet window; the next event starts it again. Search: SiteId = '<siteId>'.",
  });
}
