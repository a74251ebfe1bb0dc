import { describe, expect, it } from 'vitest';
import { DAY_MS } from '../../domain/subscription';
import { describeState } from '../../workflows/subscription/state-view';

const NOW = Date.UTC(2026, 0, 1);
const state = {
  siteId: 'site-1',
  status: 'active' as const,
  sandbox: false,
  clockOffsetMs: 0,
  term: { id: 'T2', startsAtMs: NOW, endsAtMs: NOW + 60 * DAY_MS, usersLimit: 5, iqsLimit: 2 },
  remindersSent: [],
  receiptsDue: [],
  expiredEmailsDue: ['T1'],
};

describe('the subscription workflow’s state query (describeState)', () => {
  it('shows an expired email still due beside what the workflow does', () => {
    const view = describeState(state, NOW, {
      kind: 'wait',
      for: { kind: 'reminder', offsetDays: 28, atMs: NOW + 32 * DAY_MS },
    });
    // A run that waits with an email due is what an operator must be able to see (the overtaken
    // telling's bug read exactly so).
    expect(view.expiredEmailsDue).toEqual(['T1']);
    expect(view.waitingFor).toEqual({ what: 'reminder', until: new Date(NOW + 32 * DAY_MS).toISOString() });
  });

  it('without a step (a legacy run) works the plan out: the due email comes first', () => {
    const view = describeState(state, NOW);
    expect(view.activity).toBe('Expired email for term T1');
    expect(view.waitingFor).toBeUndefined();
    expect(describeState({ ...state, expiredEmailsDue: [] }, NOW).expiredEmailsDue).toEqual([]);
  });

  it('copies what is due: the answer does not change with the workflow’s state', () => {
    const due = ['T1'];
    const view = describeState({ ...state, expiredEmailsDue: due }, NOW);
    due.push('T0');
    expect(view.expiredEmailsDue).toEqual(['T1']);
  });
});
