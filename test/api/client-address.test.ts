import { BlockList } from 'node:net';
import type { Context } from 'hono';
import { describe, expect, it } from 'vitest';
import { clientAddressReader } from '../../api/client-address';

/**
 * The client's address (A6) as the reader decides it, against BlockList asked afresh for every
 * address: the reader remembers each address's trust in a bounded map, and must answer the same
 * through more addresses than it keeps (so it starts over several times) and for each address again.
 */
const request = (socket: string, forwardedFor?: string) =>
  ({
    env: { incoming: { socket: { remoteAddress: socket } } },
    req: { header: (name: string) => (name === 'x-forwarded-for' ? forwardedFor : undefined) },
  }) as unknown as Context;

/**
 * A deterministic stream of addresses, about a quarter of them in the trusted ranges below, which
 * only their last bits tell apart from the others.
 */
function* addresses(seed: number) {
  let x = seed;
  const next = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 8;
  };
  for (;;) {
    const n = next();
    const byte = () => next() % 256;
    const group = () => (next() % 65536).toString(16);
    switch (n % 4) {
      case 0:
        yield `192.0.2.${byte()}`;
        break;
      case 1:
        yield `${1 + (byte() % 9)}.${byte()}.${byte()}.${byte()}`;
        break;
      case 2:
        yield `2001:db8::${(next() % 512).toString(16)}`;
        break;
      default:
        yield `2001:db8:${group()}::${group()}:${group()}`;
    }
  }
}

describe('clientAddressReader', () => {
  const proxies = ['10.0.0.0/8', '192.0.2.0/25', '2001:db8::/120'];
  const reference = new BlockList();
  reference.addSubnet('10.0.0.0', 8, 'ipv4');
  reference.addSubnet('192.0.2.0', 25, 'ipv4');
  reference.addSubnet('2001:db8::', 120, 'ipv6');
  const trusted = (a: string) => reference.check(a, a.includes(':') ? 'ipv6' : 'ipv4');

  it('answers as BlockList does, for 20,000 requests from more addresses than it remembers', () => {
    const read = clientAddressReader(proxies);
    const stream = addresses(7);
    const seen: string[] = [];
    let believed = 0;
    for (let i = 0; i < 20_000; i++) {
      // Every third request comes again from an address seen before, so remembered answers are used.
      const socket = i % 3 === 0 && seen.length > 0 ? seen[i % seen.length]! : stream.next().value!;
      const hop = stream.next().value!;
      seen.push(socket);
      const expected = trusted(socket) ? hop : socket;
      expect(read(request(socket, hop))).toBe(expected);
      if (expected === hop) believed++;
    }
    // Both answers were exercised: the trusted proxy's word and the socket's own address.
    expect(believed).toBeGreaterThan(2_000);
    expect(believed).toBeLessThan(18_000);
  });

  it('reads a chain from the right, skipping the trusted hops, as before remembering', () => {
    const read = clientAddressReader(proxies);
    for (let round = 0; round < 2; round++) {
      expect(read(request('10.1.2.3', '203.0.113.9, 10.9.9.9'))).toBe('203.0.113.9');
      expect(read(request('10.1.2.3', '198.51.100.1, 203.0.113.9'))).toBe('203.0.113.9');
      expect(read(request('203.0.113.7', '10.0.0.1'))).toBe('203.0.113.7');
      expect(read(request('::ffff:10.1.2.3', 'not-an-address, 192.0.2.5'))).toBe('192.0.2.5');
    }
  });

  it('believes no header when no proxy is trusted', () => {
    const read = clientAddressReader([]);
    expect(read(request('10.1.2.3', '203.0.113.9'))).toBe('10.1.2.3');
    expect(read(request('127.0.0.1', '203.0.113.9'))).toBe('127.0.0.1');
  });
});
