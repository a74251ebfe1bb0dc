import { readdir, readFile } from 'node:fs/promises';
import protos from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

/**
 * Notifications histories recorded by earlier workflow code
 * (test/workflows/histories/record-notifications.ts) must replay on the current code, or the sites'
 * open notification windows break at a deployment. Each label is the code they were recorded with:
 * - `before-metadata`: before the timers and activities carried their user metadata (summaries); one
 *   event at once, three in a digest, the quiet window's end, and a continue-as-new chain.
 */
const dir = new URL('./histories/', import.meta.url);
const files = (await readdir(dir)).filter((f) => /^notifications-.*\.binpb$/.test(f)).sort();

describe('notifications histories of earlier code', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  it.each(files)('%s replays', async (file) => {
    const bytes = await readFile(new URL(file, dir));
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: inject('workflowBundlePath') } },
      protos.temporal.api.history.v1.History.decode(bytes),
    );
  });
});
