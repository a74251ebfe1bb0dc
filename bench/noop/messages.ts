import { defineUpdate } from '@temporalio/workflow';

/** The floor for bench/redemption: an update-with-start that does nothing but answer. */
export const noopUpdate = defineUpdate<string, [string]>('noop');
