import { condition, setHandler } from '@temporalio/workflow';
import { noopUpdate } from './messages';

export async function noopWorkflow(): Promise<void> {
  setHandler(noopUpdate, (value) => value);
  await condition(() => false, '1 minute');
}
