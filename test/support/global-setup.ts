import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { applyMigrations } from '../../db/client';
import { ensureDatabase } from '../../infra/create-database';
import { startEmbeddedPostgres } from '../../infra/embedded-postgres';
import { startDevServer } from '../../infra/temporal-servers';
import { writeWorkflowBundle } from '../../worker/bundle';

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
  const bundlePath = join(workDir, 'workflow-bundle.js');
  const [pg, devServer] = await Promise.all([
    startEmbeddedPostgres({ dataDir: join(workDir, 'postgres') }),
    // On a file, not in memory: the dev server's SQLite (Temporal 1.29.1, modernc.org/sqlite 1.34.1)
    // can discard its one in-memory connection when a transaction's context is cancelled, and the
    // whole database with it (temporalio/temporal#10427); a CI run of 48f19fd lost the namespace
    // mid-run that way ("GetNamespace … interrupted (9)", then "Namespace default is not found").
    startDevServer({ headless: true, dbFilename: join(workDir, 'temporal', 'dev-server.sqlite') }),
    writeWorkflowBundle(bundlePath),
  ]);
  const templateUrl = await ensureDatabase(pg.url, TEMPLATE_DATABASE);
  await applyMigrations(templateUrl);

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
