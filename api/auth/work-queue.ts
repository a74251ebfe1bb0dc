/** Thrown when the queue is full: the caller answers 503 with Retry-After instead of waiting. */
export class QueueFull extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('work queue full');
    this.name = 'QueueFull';
  }
}

/**
 * At most `concurrency` tasks at once, at most `maxWaiting` more waiting in order; beyond that a task
 * is refused at once with an estimate of when a slot frees (the recent mean task time × the queue).
 */
export function createWorkQueue(opts: { concurrency: number; maxWaiting: number }) {
  let running = 0;
  const waiting: Array<() => void> = [];
  let meanMs = 100;

  return {
    get waiting() {
      return waiting.length;
    },
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (running < opts.concurrency) {
        running++;
      } else {
        if (waiting.length >= opts.maxWaiting) {
          throw new QueueFull(
            Math.max(1, Math.ceil((meanMs * (waiting.length + 1)) / opts.concurrency / 1000)),
          );
        }
        // The slot is handed over by the task that finishes, so `running` stays counted.
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
      const started = performance.now();
      try {
        return await task();
      } finally {
        meanMs = meanMs * 0.8 + (performance.now() - started) * 0.2;
        const next = waiting.shift();
        if (next) next();
        else running--;
      }
    },
  };
}
