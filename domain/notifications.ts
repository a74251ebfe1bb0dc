// Pure decisions of the owner notifications (K6): what matches, when to send, what goes in a digest.
// Imported by workflow code: no imports here.

/** What a first matching event starts: no second email to the owner of a site within this time. */
export const NOTIFICATION_WINDOW_MS = 10 * 60_000;
/** Event ids a digest keeps; more are only counted (bounded workflow state and email size). */
export const MAX_DIGEST_EVENTS = 100;

/**
 * The owner's choices (sites.notify_event_types, API: PUT /sites/{siteId}/notifications) name a
 * refused opening by its event type and device events by their kind; the audit trail records device
 * events as `lock.<kind>` (gateway) and refused openings as `lock.open_refused` (API).
 */
const CHOICE_BY_EVENT_TYPE: Readonly<Record<string, string>> = {
  'lock.open_refused': 'lock.open_refused',
  'lock.tamper': 'tamper',
  'lock.door_left_open': 'door_left_open',
  'lock.low_battery': 'low_battery',
  'lock.intrusion': 'intrusion',
};

/** The choice an owner makes to be told of this recorded event type; undefined when none exists. */
export function notificationChoiceOf(eventType: string): string | undefined {
  return Object.hasOwn(CHOICE_BY_EVENT_TYPE, eventType) ? CHOICE_BY_EVENT_TYPE[eventType] : undefined;
}

/** Every choice an owner can make (the keys of the mapping above). */
export const NOTIFICATION_CHOICES: readonly string[] = Object.values(CHOICE_BY_EVENT_TYPE);

/** True when a recorded event of this type emails the owner of a site that chose `chosen`. */
export function matchesNotification(eventType: string, chosen: readonly string[]): boolean {
  const choice = notificationChoiceOf(eventType);
  return choice !== undefined && chosen.includes(choice);
}

/** The notification workflow's state: event ids only (D10), never who or what. */
export interface NotifyState {
  /** Matching events not emailed yet, oldest first. */
  pending: string[];
  /** Pending events beyond MAX_DIGEST_EVENTS: counted, not listed. */
  overflow: number;
  /** Set while the last email is less than a window old: further events wait for the digest. */
  windowEndsAtMs?: number;
}

export type NotifyStep =
  /** The window is open: collect until it ends. */
  | { kind: 'wait'; untilMs: number }
  /** Nothing pending and no window: the workflow may end; the next event starts it again. */
  | { kind: 'idle' }
  /** The first event after a quiet window: email it at once and open a window. */
  | { kind: 'immediate'; eventId: string }
  /** The window ended with events collected: one digest of them, and a new window. */
  | { kind: 'digest'; eventIds: string[]; overflow: number };

export const emptyNotifyState = (): NotifyState => ({ pending: [], overflow: 0 });

/**
 * Adds an event id; a repeated id still pending (a retried signal) counts once, ids beyond the digest's
 * size are counted. One already emailed, or held by an earlier run, is added again: the email activity
 * leaves out what another email told of.
 */
export function addEvent(state: NotifyState, eventId: string): NotifyState {
  if (state.pending.includes(eventId)) return state;
  if (state.pending.length >= MAX_DIGEST_EVENTS) return { ...state, overflow: state.overflow + 1 };
  return { ...state, pending: [...state.pending, eventId] };
}

export function nextStep(state: NotifyState, nowMs: number): NotifyStep {
  if (state.windowEndsAtMs !== undefined && nowMs < state.windowEndsAtMs) {
    return { kind: 'wait', untilMs: state.windowEndsAtMs };
  }
  if (state.pending.length === 0) return { kind: 'idle' };
  if (state.windowEndsAtMs === undefined) return { kind: 'immediate', eventId: state.pending[0]! };
  return { kind: 'digest', eventIds: [...state.pending], overflow: state.overflow };
}

/** The state after `step` was carried out at `nowMs`. */
export function afterStep(
  state: NotifyState,
  step: NotifyStep,
  nowMs: number,
  windowMs: number,
): NotifyState {
  switch (step.kind) {
    case 'wait':
      return state;
    case 'idle':
      return emptyNotifyState();
    case 'immediate':
      return {
        pending: state.pending.filter((id) => id !== step.eventId),
        overflow: state.overflow,
        windowEndsAtMs: nowMs + windowMs,
      };
    case 'digest': {
      // Events that arrived while the digest was being sent stay for the next one.
      const sent = new Set(step.eventIds);
      return {
        pending: state.pending.filter((id) => !sent.has(id)),
        overflow: state.overflow - step.overflow,
        windowEndsAtMs: nowMs + windowMs,
      };
    }
  }
}
