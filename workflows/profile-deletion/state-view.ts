import { consentDeadlineMs, type FiledBy, nextStep } from '../../domain/profile-deletion';
import type { ProfileDeletionState, ProfileDeletionStateView } from './messages';

const iso = (ms: number) => new Date(ms).toISOString();

const siteList = (siteIds: readonly string[]) =>
  siteIds.length === 1 ? `site ${siteIds[0]}` : `sites ${siteIds.join(', ')}`;

/** Words of a wait, for the timer's summary in the timeline: what ends it on its own. Ids only. */
export function waitTimerSummary(reminded: boolean, pendingSiteIds: readonly string[]): string {
  return reminded
    ? `Consent deadline for ${siteList(pendingSiteIds)}`
    : `7-day consent reminder for ${siteList(pendingSiteIds)}`;
}

/**
 * The `state` query's answer. `doing` is the step in progress (an activity); without one the workflow
 * waits, and the plan says for what.
 */
export function describeDeletion(
  state: ProfileDeletionState,
  at: { nowMs: number; filedAtMs: number; filedBy: FiledBy; doing: string | undefined },
): ProfileDeletionStateView {
  const { plan } = state;
  const answerBy = iso(consentDeadlineMs(plan.deadlineAtMs));
  const open = state.status === 'awaiting_consent';
  const step = open
    ? nextStep({ consents: state.sites, nowMs: at.nowMs, plan, canceled: false, reminded: state.reminded })
    : undefined;
  const waiting = !at.doing && step?.kind === 'wait';
  const what = state.reminded ? ('answers or the deadline' as const) : ('answers or the reminder' as const);
  return {
    requestId: state.requestId,
    status: state.status,
    now: iso(at.nowMs),
    request: { filedAt: iso(at.filedAtMs), filedBy: at.filedBy },
    sites: state.sites.map((s) => ({ siteId: s.siteId, decision: s.decision, answerBy })),
    blockingSiteIds: [...state.blockingSiteIds],
    plan: { reminderAt: iso(plan.remindAtMs), consentDeadline: answerBy, timesOutAt: iso(plan.deadlineAtMs) },
    reminded: state.reminded,
    activity:
      at.doing ??
      (open ? (waiting ? `Waiting for ${what}` : 'Deciding the next step') : `Ended: ${state.status}`),
    ...(waiting && step?.kind === 'wait' ? { waitingFor: { what, until: iso(step.untilMs) } } : {}),
  };
}
