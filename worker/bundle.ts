import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_BUNDLER_OPTIONS, workflowsPath } from './create-worker';

/**
 * Bundles the workflow code once into `path` (what WORKFLOW_BUNDLE names), so that every worker
 * process started from it skips its own bundling: faster starts and restarts.
 */
export async function writeWorkflowBundle(path: string): Promise<void> {
  const quiet = () => {};
  const logger = {
    trace: quiet,
    debug: quiet,
    info: quiet,
    warn: console.warn,
    error: console.error,
    log: quiet,
  };
  const { code } = await bundleWorkflowCode({ workflowsPath, logger, ...WORKFLOW_BUNDLER_OPTIONS });
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, code);
  await rename(tmp, path);
}
