import { readdir, readFile } from 'node:fs/promises';
import protos from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

/**
 * Rollout histories recorded by earlier workflow code (test/workflows/histories/record-rollout.ts)
 * must replay on the current code, or rollouts running at a deployment break. Each label is the code
 * they were recorded with:
 * - `status-side-writer`: before the status had one writer (a side coroutine wrote a second copy);
 *   a pause and resume in the first wave, an abort in the first wave, a continue-as-new after each
 *   wave; the rollouts and their wave child workflows.
 * - `before-sliding-window`: waves that waited for their slowest IQ, and a maintenance-window wait
 *   whose timer had no summary (before `rollout-sliding-window` and `rollout-wait-summary`): the same
 *   three runs, and a fourth waiting for its window to open.
 * - `before-mid-wave-continue-as-new`: a rollout and its wave continued as new only between waves
 *   (before `rollout-continue-as-new-in-wave`): six pauses and resumes through the `control` update
 *   while the canary waited for an offline IQ, under a limit of 40 events the rollout's history
 *   passed inside that wave.
 */
const dir = new URL('./histories/', import.meta.url);
const files = (await readdir(dir)).filter((f) => /^rollout-.*\.binpb$/.test(f)).sort();

describe('rollout histories of earlier code', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(22);
    expect(files.some((f) => f.startsWith('rollout-before-sliding-window-window'))).toBe(true);
    expect(files.some((f) => f.startsWith('rollout-before-mid-wave-continue-as-new-pause-cycles'))).toBe(
      true,
    );
  });

  it.each(files)('%s replays', async (file) => {
    const bytes = await readFile(new URL(file, dir));
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: inject('workflowBundlePath') } },
      protos.temporal.api.history.v1.History.decode(bytes),
    );
  });
});
