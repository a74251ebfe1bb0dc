import { condition, defineUpdate, setHandler } from '@temporalio/workflow';

/** The floor for bench/redemption: an update-with-start that does nothing but answer. */
export const noopUpdate = defineUpdate<string, [string]>('noop');

export async function noopWorkflow(): Promise<void> {
  setHandler(noopUpdate, (value) => value);
  await condition(() => false, '1 minute');
}
