import { describe, expect, it } from 'vitest';
import { decideAttempt, emissionMs, settleAttempt, type ThrottlePolicy } from '../../domain/throttling';

const NOW = Date.UTC(2026, 11, 4, 12);
const policy: ThrottlePolicy = { limit: 10, windowMs: 600_000 };

describe('settleAttempt (V12: a redemption counted and settled in its claim)', () => {
  const cells = ['actor', 'site', 'address'].map((key) => ({ key, policy, tatMs: NOW + 120_000 }));
  const decision = decideAttempt(cells, NOW);
  if (!decision.allowed) throw new Error('the attempt was refused');
  const keys = {
    clear: ['actor'],
    refund: [
      { key: 'site', policy },
      { key: 'address', policy },
    ],
  };

  it('a failure keeps the attempt counted on every key', () => {
    expect(settleAttempt(decision.tats, false, keys)).toEqual({ tats: decision.tats, cleared: [] });
  });

  it('a success forgets the actor and gives the attempt back on the shared keys', () => {
    expect(settleAttempt(decision.tats, true, keys)).toEqual({
      tats: [
        { key: 'site', tatMs: NOW + 120_000 },
        { key: 'address', tatMs: NOW + 120_000 },
      ],
      cleared: ['actor'],
    });
  });

  it('a key neither cleared nor refunded keeps its count on success', () => {
    const settled = settleAttempt(decision.tats, true, { clear: [], refund: [{ key: 'site', policy }] });
    expect(settled.tats).toEqual([
      { key: 'actor', tatMs: NOW + 120_000 + emissionMs(policy) },
      { key: 'site', tatMs: NOW + 120_000 },
      { key: 'address', tatMs: NOW + 120_000 + emissionMs(policy) },
    ]);
  });
});
