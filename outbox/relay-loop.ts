export interface RelayLoop {
  /**
   * Runs one hand-over round. Never throws and never runs twice at once: a kick during a round runs
   * one more round after it (shared by every kick meanwhile). Resolves with how many its round handed.
   */
  handOver(): Promise<number>;
  /** Also hands over every `intervalMs`, for what a failed hand-over left queued. */
  start(intervalMs: number): void;
  /** Stops the timer and waits for the round in progress. */
  stop(): Promise<void>;
}

/** The schedule every outbox relay shares; `round` does the work and must not throw. */
export function createRelayLoop(round: () => Promise<number>): RelayLoop {
  let current: Promise<number> | undefined;
  let next: Promise<number> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const loop: RelayLoop = {
    handOver() {
      if (!current) {
        current = round().finally(() => {
          current = undefined;
        });
        return current;
      }
      // A round is running and may have passed rows queued since: one more round follows it.
      next ??= current.then(() => {
        next = undefined;
        return loop.handOver();
      });
      return next;
    },
    start(intervalMs) {
      timer ??= setInterval(() => void loop.handOver(), intervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await next;
      await current;
    },
  };
  return loop;
}

/**
 * A round that hands over batch after batch while the last one was full and wholly handed; a failure
 * ends the round (told to `onFailure`), leaving its rows queued for the next. Never throws.
 */
export function drainBatches(
  batch: () => Promise<{ handed: number; more: boolean }>,
  onFailure: (error: unknown) => void,
): () => Promise<number> {
  return async () => {
    let total = 0;
    try {
      for (;;) {
        const { handed, more } = await batch();
        total += handed;
        if (!more) return total;
      }
    } catch (error) {
      onFailure(error);
      return total;
    }
  };
}
