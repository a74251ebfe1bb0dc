import {
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { NotificationActivities } from '../../activities/notifications';
import {
  addEvent,
  afterStep,
  emptyNotifyState,
  NOTIFICATION_WINDOW_MS,
  type NotifyState,
  nextStep,
} from '../../domain/notifications';
import { ACTIVITY_OPTIONS } from '../activity-options';
import { shouldContinueAsNew } from '../continue-as-new';
import { SiteId } from '../search-attributes';
import { notificationEventSignal, notificationsStateQuery } from './messages';

export interface NotificationsWorkflowInput {
  siteId: string;
  /** Rate-limit window; tests shorten it. Default NOTIFICATION_WINDOW_MS. */
  windowSeconds?: number;
  /** Carried across continue-as-new. */
  carried?: NotifyState;
  /** Tests lower it to exercise continue-as-new; otherwise DEFAULT_MAX_HISTORY_EVENTS. */
  maxHistoryEvents?: number;
}

const acts = proxyActivities<NotificationActivities>(ACTIVITY_OPTIONS);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEFAULT_MAX_HISTORY_EVENTS = 2_000;

/**
 * `notifications-<siteId>` (K6): started or signaled with signalWithStart for each event the owner
 * chose. The first event after a quiet window is emailed at once; further events within the window
 * become one digest when it ends, so a flood costs the owner one email per window. The workflow ends
 * once a window passes with nothing to send.
 */
export async function notificationsWorkflow(input: NotificationsWorkflowInput): Promise<void> {
  const windowMs = input.windowSeconds !== undefined ? input.windowSeconds * 1000 : NOTIFICATION_WINDOW_MS;
  let state: NotifyState = input.carried ?? emptyNotifyState();
  setHandler(notificationEventSignal, (signal) => {
    if (typeof signal?.eventId === 'string' && UUID.test(signal.eventId))
      state = addEvent(state, signal.eventId);
  });
  setHandler(notificationsStateQuery, () => state);
  upsertSearchAttributes([{ key: SiteId, value: input.siteId }]);

  const maxHistory = input.maxHistoryEvents ?? DEFAULT_MAX_HISTORY_EVENTS;
  for (;;) {
    const now = Date.now();
    const step = nextStep(state, now);
    switch (step.kind) {
      case 'idle':
        return;
      case 'wait': {
        if (shouldContinueAsNew(maxHistory)) {
          await continueAsNew<typeof notificationsWorkflow>({ ...input, carried: state });
        }
        // User metadata (O1): what the timeline shows for this timer and the run's current details.
        const pending = state.pending.length + state.overflow;
        setCurrentDetails(
          `Rate-limit window open until ${new Date(step.untilMs).toISOString()}; ${pending} event(s) wait for its digest.`,
        );
        await sleep(Math.max(1, step.untilMs - now), { summary: 'Rate-limit window: digest at its end' });
        continue;
      }
      case 'immediate':
        setCurrentDetails('Emailing the owner the first event after a quiet window.');
        await acts.sendEventNotification.executeWithOptions(
          { ...ACTIVITY_OPTIONS, summary: 'Email one event at once' },
          [
            {
              siteId: input.siteId,
              eventIds: [step.eventId],
              digest: false,
              overflow: 0,
            },
          ],
        );
        break;
      case 'digest':
        setCurrentDetails(`Emailing the owner a digest of ${step.eventIds.length + step.overflow} event(s).`);
        await acts.sendEventNotification.executeWithOptions(
          { ...ACTIVITY_OPTIONS, summary: 'Email the digest of the window' },
          [
            {
              siteId: input.siteId,
              eventIds: step.eventIds,
              digest: true,
              overflow: step.overflow,
            },
          ],
        );
        break;
    }
    state = afterStep(state, step, now, windowMs);
  }
}
