import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';

/**
 * Every short activity of the product: database work and one email each. Retried with backoff for as
 * long as it takes (activities are idempotent); a minute is ample for one attempt.
 */
export const ACTIVITY_OPTIONS = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
} as const satisfies ActivityOptions;

/**
 * Short database work run inside the workflow task (a run's first load), with no round trip through
 * the server. Retried like the others; past a minute of retries the SDK waits between attempts with
 * timers.
 */
export const LOCAL_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '30 seconds',
  retry: ACTIVITY_OPTIONS.retry,
} as const satisfies LocalActivityOptions;
