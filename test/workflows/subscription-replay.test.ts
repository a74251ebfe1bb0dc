import { readdir, readFile } from 'node:fs/promises';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, inject, it } from 'vitest';

/**
 * Histories recorded by earlier workflow code must replay on the current code, or running
 * workflows break at the next deployment. Each `histories/*.binpb` is one recorded history:
 * - `subscription-receipt-inside-update`: recorded before redemptions were answered ahead of their
 *   receipt (patch `redemption-answered-before-receipt`): a 5-day voucher, its receipt and 1-day
 *   reminder, then a second redemption, with the receipts sent inside the update.
 * - `subscription-5c0c1a6-*`: recorded with the code before the serialized, step-driven workflow
 *   (patch `subscription-steps`) by `histories/record-subscription.ts` (what each holds is there):
 *   concurrent redemptions, the sandbox clock, reminders, expiry, continue-as-new.
 * - `subscription-65d86c0-*`: the same scenarios recorded before a run's first redemption loaded the
 *   site with its claim (patch `redemption-claim-loads`): a load, then the claim.
 * - `subscription-cb12c44-*`: the same scenarios recorded before a redemption's receipt and IQ push
 *   were queued in its claim's transaction for the worker's relay (patch `redemption-receipts-queued`):
 *   the `announceRedemption` activity after each answer.
 * - `subscription-caf2a67-*`: the same scenarios recorded before a new run recorded one patch marker
 *   (`subscription-since-receipts-queued`) instead of the three above (each with its own upsert of
 *   TemporalChangeVersion).
 * - `subscription-3139a9c-*`: the same scenarios recorded before a run started by the clients said
 *   in its input that it is of the current code (`current`) instead of recording that marker.
 * - `subscription-f1d25fe-*`: the same scenarios recorded before the API claimed redemptions itself
 *   and a relay told the workflow (signal `subscriptionChanged`, adopted by subscription version):
 *   the workflow's adopt then took every state it was given.
 * - `subscription-f3af453-*`: the same scenarios (and `told`, the API's path) recorded before an
 *   update's claim ran as an activity (patch `redemption-claim-by-activity`): a local activity.
 * - `subscription-92b350a-*`: the same scenarios recorded before a run whose start brought its state
 *   (a telling) went to its first step without taking `serial` when no update held it (no marker:
 *   the commands are the same), and before the workflow modules were preloaded.
 * - `subscription-660cf92-*`: the same scenarios recorded before runs started with `leanWaits` waited
 *   with `waitUntil` (workflows/wait.ts) instead of the SDK's condition with a timeout, and a lean run
 *   whose telling brought its state went to its first step without a condition first.
 * - `subscription-38e4897-overtaken`: recorded before a telling overtaken by a newer one woke the
 *   wait for the term its claim expired (patch `overtaken-expiry-wakes`): the workflow waited on with
 *   the expired email due until the next telling (the recorder's `overtaken` scenario).
 * Stored as binary protobuf: in this install the SDK's JSON history reader meets two copies of
 * protobufjs and throws "type must be a Type".
 */
const dir = new URL('./histories/', import.meta.url);
const histories = (await readdir(dir)).filter((f) => f.endsWith('.binpb')).sort();

describe('subscription histories of earlier code', () => {
  it('there are recorded histories to replay', ({ expect }) => {
    expect(histories.length).toBeGreaterThanOrEqual(4);
  });

  it.each(histories)('%s replays', async (file) => {
    const bytes = await readFile(new URL(file, dir));
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: inject('workflowBundlePath') } },
      temporal.api.history.v1.History.decode(bytes),
      file,
    );
  });
});
