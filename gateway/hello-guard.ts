import { CappedCounts } from '../domain/capped-counts';

/**
 * What keeps strangers from wearing the gateway down (API.md device protocol): a cap on connections per
 * client address, and a throttle on failed hellos per address (each serial counted once), per address
 * and serial, and per serial. In memory, per instance: an attacker spread over instances meets each
 * instance's limits.
 */
export interface HelloGuardOptions {
  /** Open connections one address may hold; IQs of a site behind one NAT share an address. */
  maxConnectionsPerAddress: number;
  /**
   * Failed hellos allowed in a window: per address (distinct serials, and hellos never said), per
   * address and serial, and per serial.
   */
  maxFailedHellos: number;
  windowMs: number;
}

export const DEFAULT_HELLO_GUARD: HelloGuardOptions = {
  maxConnectionsPerAddress: 256,
  maxFailedHellos: 10,
  windowMs: 60_000,
};

/** Tracked keys beyond which expired windows are swept (and, if still too many, the oldest dropped). */
const MAX_TRACKED = 50_000;

export class HelloGuard {
  private readonly open: CappedCounts;
  private readonly failures = new Map<string, { count: number; endsAt: number }>();

  constructor(
    private readonly opts: HelloGuardOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.open = new CappedCounts(opts.maxConnectionsPerAddress);
  }

  /** Counts a new connection from `address`; false when the address holds its cap already. */
  admit(address: string): boolean {
    return this.open.take(address);
  }

  release(address: string) {
    this.open.release(address);
  }

  /**
   * True when this hello is refused before any lookup: its address tried too many serials (a scan, or
   * hello deadlines), or this serial failed too often from this address. A misconfigured IQ retrying
   * its wrong secret behind a building's router throttles itself, not its site-mates sharing the
   * address: device secrets are high-entropy, so one serial's retries guess nothing.
   */
  refusedBeforeLookup(address: string, serial: string): boolean {
    return this.over(`a:${address}`) || this.over(`p:${address}|${serial}`);
  }

  /** True when this serial's wrong hellos are answered throttled (its right one is still welcomed). */
  serialThrottled(serial: string): boolean {
    return this.over(`s:${serial}`);
  }

  /** A failed hello; one without a serial (no hello in time) counts against its address each time. */
  failed(address: string, serial?: string) {
    if (serial === undefined) return this.count(`a:${address}`);
    // The address counts each serial once a window: its retries count against that serial alone.
    const pair = `p:${address}|${serial}`;
    if (!this.live(pair)) this.count(`a:${address}`);
    this.count(pair);
    this.count(`s:${serial}`);
  }

  private live(key: string): boolean {
    const entry = this.failures.get(key);
    return entry !== undefined && entry.endsAt > this.now();
  }

  private over(key: string): boolean {
    const entry = this.failures.get(key);
    return entry !== undefined && entry.endsAt > this.now() && entry.count >= this.opts.maxFailedHellos;
  }

  private count(key: string) {
    const now = this.now();
    const entry = this.failures.get(key);
    if (entry && entry.endsAt > now) entry.count++;
    else {
      this.failures.delete(key);
      this.failures.set(key, { count: 1, endsAt: now + this.opts.windowMs });
      if (this.failures.size > MAX_TRACKED) this.sweep(now);
    }
  }

  private sweep(now: number) {
    for (const [key, entry] of this.failures) if (entry.endsAt <= now) this.failures.delete(key);
    for (const key of this.failures.keys()) {
      if (this.failures.size <= MAX_TRACKED / 2) break;
      this.failures.delete(key);
    }
  }
}
