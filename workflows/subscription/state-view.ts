import {
  nextStep,
  pendingReminders,
  reminderPlan,
  type SubscriptionStep,
  type SubscriptionWait,
} from '../../domain/subscription';
import type { SubscriptionState, SubscriptionStateView } from './messages';

const iso = (ms: number) => new Date(ms).toISOString();

/** Words for a step, as the query, the workflow's current details and the timeline show them. */
export function stepSummary(step: SubscriptionStep): string {
  switch (step.kind) {
    case 'sendReceipt':
      return `Receipt and IQ push for term ${step.termId}`;
    case 'sendExpiredEmail':
      return `Expired email for term ${step.termId}`;
    case 'expire':
      return `Expiring term ${step.termId} (V6)`;
    case 'sendReminder':
      return `${step.offsetDays}-day reminder for term ${step.termId}`;
    case 'continueAsNew':
      return 'Continuing as new';
    case 'wait':
      return waitSummary(step.for);
  }
}

export function waitSummary(wait: SubscriptionWait): string {
  switch (wait.kind) {
    case 'reminder':
      return `Waiting for the ${wait.offsetDays}-day reminder at ${iso(wait.atMs)} (site time)`;
    case 'end':
      return `Waiting for the end of the term at ${iso(wait.atMs)} (site time)`;
    case 'redemption':
      return 'Waiting for a redemption (no term in force)';
  }
}

/** Timer summaries in the timeline: short, fixed words. */
export function timerSummary(wait: Exclude<SubscriptionWait, { kind: 'redemption' }>): string {
  return wait.kind === 'reminder' ? `${wait.offsetDays}-day reminder` : 'End of term';
}

const WAIT_WORDS = { reminder: 'reminder', end: 'end of term', redemption: 'redemption' } as const;

/**
 * The `state` query's answer. `step` is what the workflow is doing now; without one (a legacy run),
 * the plan is worked out from the state.
 */
export function describeState(
  state: SubscriptionState,
  nowMs: number,
  step?: SubscriptionStep,
): SubscriptionStateView {
  const { term } = state;
  const current =
    step ??
    nextStep({
      nowMs,
      status: state.status,
      ...(term ? { term } : {}),
      remindersSent: state.remindersSent,
      receiptsDue: state.receiptsDue ?? [],
      expiredEmailsDue: state.expiredEmailsDue ?? [],
      expiredInThisRun: false,
      historyLong: false,
    });
  const [next] =
    term && state.status === 'active'
      ? pendingReminders(reminderPlan(term), { nowMs, sent: state.remindersSent })
      : [];
  return {
    siteId: state.siteId,
    status: state.status,
    sandbox: state.sandbox,
    now: iso(nowMs),
    clockOffsetSeconds: Math.floor(state.clockOffsetMs / 1000),
    ...(term
      ? {
          term: {
            id: term.id,
            startsAt: iso(term.startsAtMs),
            endsAt: iso(term.endsAtMs),
            usersLimit: term.usersLimit,
            iqsLimit: term.iqsLimit,
          },
        }
      : {}),
    remindersSent: [...state.remindersSent],
    ...(next ? { nextReminderAt: iso(next.atMs), nextReminderDays: next.offsetDays } : {}),
    receiptsDue: [...(state.receiptsDue ?? [])],
    expiredEmailsDue: [...(state.expiredEmailsDue ?? [])],
    activity: stepSummary(current),
    ...(current.kind === 'wait'
      ? {
          waitingFor: {
            what: WAIT_WORDS[current.for.kind],
            ...(current.for.kind !== 'redemption' ? { until: iso(current.for.atMs) } : {}),
          },
        }
      : {}),
  };
}
