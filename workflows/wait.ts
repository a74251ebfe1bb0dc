import { CancellationScope, condition, sleep, type TimerOptions } from '@temporalio/workflow';

/**
 * Waits until `woken()` holds or `ms` have passed, whichever comes first; true when woken. The same
 * commands as the SDK's `condition(woken, ms, options)`, a timer cancelled when woken first, with far
 * fewer promises: its race, its scope's run and their continuations are left out (issue 15: the SDK
 * captures and formats a stack trace for every promise a workflow creates, half of the CPU of a new
 * site's first workflow task). Its commands may come in another order than `condition`'s within an
 * activation: a run waits one way from its start to its end.
 */
export async function waitUntil(woken: () => boolean, ms: number, options?: TimerOptions): Promise<boolean> {
  let fired = false;
  const timer = new CancellationScope();
  timer
    .run(() => sleep(ms, options))
    .then(
      () => {
        fired = true;
      },
      // Cancelled below: the wait is over.
      () => undefined,
    );
  await condition(() => fired || woken());
  if (fired) return false;
  timer.cancel();
  return true;
}
