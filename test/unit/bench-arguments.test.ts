import { describe, expect, it } from 'vitest';
import { sumCounts } from '../../bench/stats';
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
});
