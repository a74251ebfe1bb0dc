import { describe, expect, it } from 'vitest';
import { DAY_MS, deletionPlan, nextStep, type SiteConsent } from '../../domain/profile-deletion';

const T0 = Date.UTC(2030, 0, 1);
const plan = deletionPlan(T0);
const sites = (...decisions: SiteConsent['decision'][]): SiteConsent[] =>
  decisions.map((decision, i) => ({ siteId: `site-${i}`, decision }));
const step = (
  consents: SiteConsent[],
  nowMs: number,
  opts: { canceled?: boolean; reminded?: boolean } = {},
) => nextStep({ consents, nowMs, plan, canceled: opts.canceled ?? false, reminded: opts.reminded ?? false });

describe('profile deletion plan', () => {
  it('reminds at day 7, ends at day 30, and links expire before the deadline', () => {
    expect(plan.remindAtMs - T0).toBe(7 * DAY_MS);
    expect(plan.deadlineAtMs - T0).toBe(30 * DAY_MS);
    expect(plan.tokenExpiresAtMs).toBeLessThan(plan.deadlineAtMs);
    expect(plan.tokenExpiresAtMs).toBeGreaterThan(plan.remindAtMs);
  });
  it('refuses a moment that is not an integer', () => {
    expect(() => deletionPlan(1.5)).toThrow(RangeError);
  });
});

describe('profile deletion next step', () => {
  it('any denial ends as denied, even with approvals and after the deadline', () => {
    expect(step(sites('approved', 'denied', 'pending'), T0)).toEqual({ kind: 'finish', status: 'denied' });
    expect(step(sites('denied'), plan.deadlineAtMs + 1)).toEqual({ kind: 'finish', status: 'denied' });
  });
  it('all approved deletes, also when the deadline passed meanwhile', () => {
    expect(step(sites('approved', 'approved', 'approved'), T0)).toEqual({ kind: 'delete' });
    expect(step(sites('approved'), plan.deadlineAtMs)).toEqual({ kind: 'delete' });
  });
  it('no sites to ask deletes at once', () => {
    expect(step([], T0)).toEqual({ kind: 'delete' });
  });
  it('a cancel wins over everything', () => {
    expect(step(sites('approved'), T0, { canceled: true })).toEqual({ kind: 'finish', status: 'canceled' });
    expect(step(sites('denied'), T0, { canceled: true })).toEqual({ kind: 'finish', status: 'canceled' });
  });
  it('waits for the reminder, reminds the silent sites once, then waits for the deadline', () => {
    const consents = sites('approved', 'pending', 'pending');
    expect(step(consents, T0)).toEqual({ kind: 'wait', untilMs: plan.remindAtMs });
    expect(step(consents, plan.remindAtMs - 1)).toEqual({ kind: 'wait', untilMs: plan.remindAtMs });
    expect(step(consents, plan.remindAtMs)).toEqual({ kind: 'remind', siteIds: ['site-1', 'site-2'] });
    expect(step(consents, plan.remindAtMs, { reminded: true })).toEqual({
      kind: 'wait',
      untilMs: plan.deadlineAtMs,
    });
  });
  it('times out at the deadline without every answer', () => {
    expect(step(sites('approved', 'pending'), plan.deadlineAtMs, { reminded: true })).toEqual({
      kind: 'finish',
      status: 'timed_out',
    });
    // A reminder never sent (worker down for weeks) is not sent after the deadline.
    expect(step(sites('pending'), plan.deadlineAtMs)).toEqual({ kind: 'finish', status: 'timed_out' });
  });
});
