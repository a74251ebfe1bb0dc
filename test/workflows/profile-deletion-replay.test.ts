import { readdir, readFile } from 'node:fs/promises';
import protos from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

/**
 * Profile-deletion histories recorded by earlier workflow code
 * (test/workflows/histories/record-profile-deletion.ts) must replay on the current code, or requests
 * open at a deployment break. Each label is the code they were recorded with:
 * - `consent-two-writers`: before patch `consent-signal-wakes`, when the workflow wrote each
 *   signalled answer again (`recordConsent`); two sites approve, one denies, nobody answers
 *   (reminder, then timed out), support cancels after an approval, the person owns a site.
 * - `before-described`: before patches `deletion-described` (the `SiteIds` search attribute, summaries
 *   on activities and timers) and `deletion-blocked-at-filing` (a request the filing blocked only
 *   tells support); the same five runs.
 * - `before-deadline-recheck`: before patch `deletion-deadline-rechecked`, with the finish that decides
 *   the deadline's end again from the stored answers (it came with the patch); the same five runs, and
 *   two whose answers land after the workflow's last read: a denial (the finish answered `denied`,
 *   support was not told) and the last approval (it answered `awaiting_consent` and the run ended so).
 *   Replaying them without the patch's marker must give the same commands.
 */
const dir = new URL('./histories/', import.meta.url);
const files = (await readdir(dir)).filter((f) => /^profile-deletion-.*\.binpb$/.test(f)).sort();

describe('profile-deletion histories of earlier code', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(17);
  });

  it.each(files)('%s replays', async (file) => {
    const bytes = await readFile(new URL(file, dir));
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: inject('workflowBundlePath') } },
      protos.temporal.api.history.v1.History.decode(bytes),
    );
  });
});
