import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { defaultDatabasePoolSize } from '../../config/env';
import { connectDatabase, type Database } from '../../db/client';
import { ensureDatabase } from '../../infra/create-database';

/**
 * A fresh database cloned from the migrated template: each test file gets its own, through as many
 * connections as a product process keeps (DATABASE_POOL_SIZE's default).
 */
export async function createTestDatabase(): Promise<Database & { url: string }> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const url = await ensureDatabase(inject('postgresUrl'), name, inject('templateDatabase'));
  return { ...connectDatabase(url, { max: defaultDatabasePoolSize() }), url };
}
