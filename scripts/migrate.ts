import { loadEnvOrExit } from '../config/env';
import { applyMigrations } from '../db/client';

// Deployment step (docker-compose `migrate` service): apply the committed migrations and exit.
const env = loadEnvOrExit();
await applyMigrations(env.DATABASE_URL);
console.log('[migrate] database is up to date');
