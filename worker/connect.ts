/**
 * Connects, retrying failures with a doubling delay capped at `maxDelayMs`, until connected or
 * `signal` aborts (then undefined). The worker waits this way for a Temporal that is away at its start,
 * as the API and the gateway do with their lazy clients, instead of exiting: under a supervisor that
 * gives up on a process that keeps dying (start:cluster's launcher), an outage of Temporal would
 * otherwise stop everything.
 */
export async function connectWhenReachable<T>(
  connect: () => Promise<T>,
  opts: {
    signal: AbortSignal;
    onFailure: (failure: { attempt: number; retryInMs: number; error: unknown }) => void;
    firstDelayMs?: number;
    maxDelayMs?: number;
  },
): Promise<T | undefined> {
  let delayMs = opts.firstDelayMs ?? 500;
  for (let attempt = 1; !opts.signal.aborted; attempt++) {
    try {
      return await connect();
    } catch (error) {
      if (opts.signal.aborted) break;
      opts.onFailure({ attempt, retryInMs: delayMs, error });
    }
    await new Promise<void>((wake) => {
      const timer = setTimeout(done, delayMs);
      opts.signal.addEventListener('abort', done, { once: true });
      function done() {
        clearTimeout(timer);
        opts.signal.removeEventListener('abort', done);
        wake();
      }
    });
    delayMs = Math.min(2 * delayMs, opts.maxDelayMs ?? 10_000);
  }
  return undefined;
}
