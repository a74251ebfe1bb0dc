import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { applyMigrations } from '../../db/client';
import { ensureDatabase } from '../../infra/create-database';
import { startEmbeddedPostgres } from '../../infra/embedded-postgres';
import { startDevServer } from '../../infra/temporal-servers';
import { workflowsPath } from '../../worker/create-worker';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    templateDatabase: string;
    workflowBundlePath: string;
    devServerAddress: string;
  }
}

export const TEMPLATE_DATABASE = 'ks_template';

/**
 * One real PostgreSQL and one Temporal dev server for the whole run, on free ports, and the
 * workflow bundle built once. Each test file clones the migrated template database, so files are
 * isolated from each other; time-skipping servers are per file (time is global to such a server).
 */
export default async function setup(project: TestProject) {
  const workDir = await mkdtemp(join(tmpdir(), 'ks-test-'));
  // PostgreSQL runs as its own user when we are root; it must be able to reach its data directory.
  await chmod(workDir, 0o755);
  const [pg, devServer, bundle] = await Promise.all([
    startEmbeddedPostgres({ dataDir: join(workDir, 'postgres') }),
    startDevServer({ headless: true }),
    bundleWorkflowCode({ workflowsPath, logger: quietLogger }),
  ]);
  const templateUrl = await ensureDatabase(pg.url, TEMPLATE_DATABASE);
  await applyMigrations(templateUrl);
  const bundlePath = join(workDir, 'workflow-bundle.js');
  await writeFile(bundlePath, bundle.code);

  project.provide('postgresUrl', pg.url);
  project.provide('templateDatabase', TEMPLATE_DATABASE);
  project.provide('workflowBundlePath', bundlePath);
  project.provide('devServerAddress', devServer.address);

  return async () => {
    await devServer.stop();
    await pg.stop();
    await rm(workDir, { recursive: true, force: true });
  };
}

const noop = () => {};
const quietLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: console.warn,
  error: console.error,
  log: noop,
};
