import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyMigrations } from '../../db/client';
import { ensureDatabase } from '../../infra/create-database';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from '../../infra/embedded-postgres';
import { freePort } from '../../infra/free-port';

/** A PostgreSQL server of a test's own, with a migrated database, that it stops and starts again. */
export interface RestartablePostgres {
  url: string;
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops it if running and removes its data. */
  close(): Promise<void>;
}

export async function startRestartablePostgres(database: string): Promise<RestartablePostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'ks-faults-pg-'));
  // PostgreSQL runs as its own user when we are root; it must reach its data directory.
  await chmod(dir, 0o755);
  const dataDir = join(dir, 'data');
  const port = await freePort();
  let pg: EmbeddedPostgresHandle | undefined = await startEmbeddedPostgres({ dataDir, port });
  const url = await ensureDatabase(pg.url, database);
  await applyMigrations(url);
  return {
    url,
    async stop() {
      await pg?.stop();
      pg = undefined;
    },
    async start() {
      pg = await startEmbeddedPostgres({ dataDir, port });
    },
    async close() {
      await pg?.stop();
      pg = undefined;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
