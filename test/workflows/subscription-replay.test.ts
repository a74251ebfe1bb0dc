import { readFile } from 'node:fs/promises';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, inject, it } from 'vitest';

/**
 * Histories recorded by earlier workflow code must replay on the current code, or running
 * workflows break at the next deployment. This one was recorded before redemptions were answered
 * ahead of their receipt (patch `redemption-answered-before-receipt`): a 5-day voucher, its receipt
 * and 1-day reminder, then a second redemption, with the receipts sent inside the update.
 * Stored as binary protobuf: in this install the SDK's JSON history reader meets two copies of
 * protobufjs and throws "type must be a Type".
 */
describe('subscription histories of earlier code', () => {
  it('a history with the receipt sent inside the update replays', async () => {
    const bytes = await readFile(
      new URL('./histories/subscription-receipt-inside-update.binpb', import.meta.url),
    );
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: inject('workflowBundlePath') } },
      temporal.api.history.v1.History.decode(bytes),
    );
  });
});
