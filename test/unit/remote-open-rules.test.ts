import { describe, expect, it } from 'vitest';
import { type OpenFacts, openRefusal } from '../../domain/remote-open';

const allowed: OpenFacts = {
  siteActive: true,
  memberSubscribed: true,
  remoteAccess: true,
  iqSubscribed: true,
  iqOnline: true,
};
const ORDER = [
  ['siteActive', 'no_valid_subscription'],
  ['memberSubscribed', 'user_unsubscribed'],
  ['remoteAccess', 'no_access'],
  ['iqSubscribed', 'iq_unsubscribed'],
  ['iqOnline', 'iq_offline'],
] as const;

describe('remote opening rules (K4)', () => {
  it('lets an opening through only when every fact holds', () => {
    expect(openRefusal(allowed)).toBeUndefined();
  });

  it('names the first rule broken, in K4 order, whatever else is broken after it', () => {
    // Every combination of the five facts: the answer is the first false fact's code.
    for (let mask = 0; mask < 2 ** ORDER.length; mask++) {
      const facts = { ...allowed };
      ORDER.forEach(([fact], i) => {
        facts[fact] = (mask & (1 << i)) === 0;
      });
      const first = ORDER.find(([fact]) => !facts[fact]);
      expect(openRefusal(facts)).toBe(first?.[1]);
    }
  });
});
