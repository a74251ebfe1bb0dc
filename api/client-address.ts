import { BlockList, isIP } from 'node:net';
import type { Context } from 'hono';

/** What the Node adapter (@hono/node-server) puts in `c.env`: the request's socket. */
interface NodeBindings {
  incoming?: { socket?: { remoteAddress?: string } };
}

/** How many addresses' trust a reader remembers before it starts over. */
const KNOWN_ADDRESSES = 4096;

export const unmapped = (address: string) => (address.startsWith('::ffff:') ? address.slice(7) : address);

/**
 * The proxies whose `X-Forwarded-For` is believed (TRUSTED_PROXIES: addresses or CIDR ranges,
 * validated by config/env.ts).
 */
function trustedList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/');
    if (!address) continue;
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

/**
 * Whether an address is one of the trusted proxies (an IPv4-mapped IPv6 address as its IPv4 one).
 * BlockList#check builds socket addresses for each call (issue 15: a few µs of every request's CPU):
 * each address's answer is remembered, in a bounded map a flood of addresses cannot grow.
 */
export function trustedAddress(trustedProxies: readonly string[]): (address: string) => boolean {
  const trusted = trustedList(trustedProxies);
  const known = new Map<string, boolean>();
  return (raw) => {
    if (trustedProxies.length === 0) return false;
    const address = unmapped(raw);
    let answer = known.get(address);
    if (answer === undefined) {
      const family = isIP(address);
      answer = family !== 0 && trusted.check(address, family === 6 ? 'ipv6' : 'ipv4');
      if (known.size >= KNOWN_ADDRESSES) known.clear();
      known.set(address, answer);
    }
    return answer;
  };
}

/**
 * The client's address (A6): the socket's, or, when the socket is a trusted proxy, the address that
 * proxy saw: `X-Forwarded-For` read from the right, skipping the trusted proxies of a chain. A
 * client cannot choose its address by sending the header itself: only a trusted hop's word counts.
 * Undefined when the request came through no socket (an in-process call in tests).
 */
export function clientAddressReader(trustedProxies: readonly string[]) {
  const isTrusted = trustedAddress(trustedProxies);
  return (c: Context): string | undefined => {
    const socket = (c.env as NodeBindings | undefined)?.incoming?.socket?.remoteAddress;
    if (!socket) return undefined;
    let address = unmapped(socket);
    if (!isTrusted(address)) return address;
    const hops = (c.req.header('x-forwarded-for') ?? '').split(',').map((h) => unmapped(h.trim()));
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      // A hop that is no address was not written by a proxy we trust: stop at the last good one.
      if (isIP(hop) === 0) break;
      address = hop;
      if (!isTrusted(hop)) break;
    }
    return address;
  };
}

/**
 * The bucket of an address for throttling: an IPv4 address itself, an IPv6 address by its /64 (one
 * subscriber holds a whole /64 and could otherwise change address for every attempt).
 */
export function addressBucket(address: string): string {
  if (isIP(address) !== 6) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}
