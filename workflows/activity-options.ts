import type { ActivityOptions } from '@temporalio/workflow';

/**
 * Every short activity of the product: database work and one email each. Retried with backoff for as
 * long as it takes (activities are idempotent); a minute is ample for one attempt.
 */
export const ACTIVITY_OPTIONS = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
} as const satisfies ActivityOptions;
