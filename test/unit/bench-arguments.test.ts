import { describe, expect, it } from 'vitest';
import { mergeShares, sumCounts } from '../../bench/stats';
import { takeOption } from '../../bench/temporal-server';

describe('bench arguments and tallies', () => {
  it('takes an option and its value out of the arguments, keeping the rest in order', () => {
    expect(takeOption(['1000', '--loaders', '3', '32'], '--loaders')).toEqual({
      value: '3',
      rest: ['1000', '32'],
    });
    expect(takeOption(['1000', '32'], '--loaders')).toEqual({ value: undefined, rest: ['1000', '32'] });
    // Nothing after the flag: an empty value, which each bench refuses as a count.
    expect(takeOption(['1000', '--loaders'], '--loaders')).toEqual({ value: '', rest: ['1000'] });
  });

  it('adds counts up key by key', () => {
    expect(sumCounts([{ '409 iq_offline': 2, network: 1 }, { network: 4 }, {}])).toEqual({
      '409 iq_offline': 2,
      network: 5,
    });
    expect(sumCounts([])).toEqual({});
  });

  it('merges load processes that ran side by side: every latency over the longest wall', () => {
    const merged = mergeShares([
      { latencies: [1, 2, 3], wallMs: 1000, busyMs: 500, failed: { network: 1 } },
      { latencies: [4], wallMs: 2000, busyMs: 500, failed: { network: 2, '409 iq_offline': 1 } },
      { latencies: [], wallMs: 0, busyMs: 0, failed: {} },
    ]);
    expect(merged.count).toBe(4);
    // Four calls over the longest wall (2 s), not the sum of the walls.
    expect(merged.perSecond).toBe(2);
    expect(merged.p99).toBe(4);
    expect(merged.failed).toEqual({ network: 3, '409 iq_offline': 1 });
    // Each process's share of its own wall; one that ran nothing reads 0, not NaN.
    expect(merged.busy).toEqual([0.5, 0.25, 0]);
  });
});
