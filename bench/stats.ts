/** Latency percentiles, mean and throughput of a batch of timed calls. */
export function summarize(latenciesMs: number[], wallMs: number) {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const pick = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  return {
    count: sorted.length,
    perSecond: (sorted.length / wallMs) * 1000,
    p25: pick(25),
    p50: pick(50),
    p75: pick(75),
    p99: pick(99),
    mean: sorted.length === 0 ? 0 : sorted.reduce((sum, x) => sum + x, 0) / sorted.length,
  };
}

/** What one load generator process measured of one group of calls (its share of the clients). */
export interface Driven {
  latencies: number[];
  wallMs: number;
  /** How long its event loop was busy meanwhile (a saturated generator measures its own queue). */
  busyMs: number;
  failed: Record<string, number>;
}

/**
 * One group's figures over the shares of load processes that ran side by side: every latency over the
 * longest wall, the failures added up, and how busy each process's event loop was (0 for none run).
 */
export function mergeShares(shares: Driven[]) {
  return {
    ...summarize(
      shares.flatMap((share) => share.latencies),
      Math.max(...shares.map((share) => share.wallMs)),
    ),
    failed: sumCounts(shares.map((share) => share.failed)),
    busy: shares.map((share) => (share.wallMs > 0 ? share.busyMs / share.wallMs : 0)),
  };
}

/** Records of counts (failures by kind, CPU seconds by part) added up key by key. */
export function sumCounts(records: Iterable<Record<string, number>>): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const record of records) for (const [key, n] of Object.entries(record)) sum[key] = (sum[key] ?? 0) + n;
  return sum;
}

/** Runs `total` calls with `concurrency` in flight; returns each call's latency and the wall time. */
export async function runConcurrent(total: number, concurrency: number, call: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        const t0 = performance.now();
        await call(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, wallMs: performance.now() - started };
}

/**
 * Two phases of `seconds` each, in turns of about 2 s: first then second, second then first, ...
 * The machine's speed drifts within a minute; taken in turns, the drift weighs on both alike.
 */
export function turns<T>(seconds: number, first: T, second: T) {
  const pairs = Math.max(1, Math.round(seconds / 2));
  const order = Array.from({ length: pairs }, (_, i) => (i % 2 === 0 ? [first, second] : [second, first]));
  return { order: order.flat(), turnSeconds: seconds / pairs };
}
