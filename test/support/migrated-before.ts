import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import { inject } from 'vitest';
import { connectDatabase, type Database } from '../../db/client';
import { ensureDatabase } from '../../infra/create-database';

const MIGRATIONS = fileURLToPath(new URL('../../db/migrations', import.meta.url));

/**
 * A database of its own brought to the migration before `tag` with the committed files, as a
 * deployment of the previous version left it: a migration's test then writes rows and applies the rest
 * (`applyMigrations(url)`).
 */
export async function migratedBefore(
  tag: string,
): Promise<{ url: string; database: Database; close(): Promise<void> }> {
  const url = await ensureDatabase(inject('postgresUrl'), `t_${randomBytes(6).toString('hex')}`);
  const folder = await mkdtemp(join(tmpdir(), `migrations-before-${tag}-`));
  await cp(MIGRATIONS, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
  const at = journal.entries.findIndex((e) => e.tag === tag);
  if (at < 1) throw new Error(`no migration ${tag} after the first`);
  journal.entries = journal.entries.slice(0, at);
  await writeFile(journalPath, JSON.stringify(journal));
  const database = connectDatabase(url, { max: 2 });
  await migrate(database.db, { migrationsFolder: folder });
  return {
    url,
    database,
    async close() {
      await database.close();
      await rm(folder, { recursive: true, force: true });
    },
  };
}
