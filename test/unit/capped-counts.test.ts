import { expect, it } from 'vitest';
import { CappedCounts } from '../../domain/capped-counts';

it('counts each key up to its cap, apart from other keys, and frees a place at each release', () => {
  const counts = new CappedCounts(2);
  expect([counts.take('a'), counts.take('a'), counts.take('a')]).toEqual([true, true, false]);
  expect(counts.take('b')).toBe(true);
  counts.release('a');
  expect([counts.take('a'), counts.take('a')]).toEqual([true, false]);
});

it('a release of a key holding nothing frees no place beyond the cap', () => {
  const counts = new CappedCounts(1);
  counts.release('a');
  counts.release('a');
  expect([counts.take('a'), counts.take('a')]).toEqual([true, false]);
});
