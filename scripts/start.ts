import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { parseEnv } from '../config/env';
import { applyMigrations, connectDatabase } from '../db/client';
import { ensureDatabase } from '../infra/create-database';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { startDevServer } from '../infra/temporal-servers';
import { DEMO_ACCOUNTS, DEMO_PASSWORD, seedDemo } from './seed-demo';

/**
 * `npm start`: the whole system on embedded defaults in one command. A real PostgreSQL (embedded
 * binaries) and the Temporal development server with its Web UI, then the worker, the API and the
 * device gateway as child processes. Data lives in .data/ and is reused by the next start.
 */
const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const dataDir = resolve(process.env.KS_DATA_DIR ?? join(root, '.data'));
const children: ChildProcess[] = [];
const stops: Array<() => Promise<void>> = [];
let stopping = false;
const say = (line: string) => console.log(`[start] ${line}`);

async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  await Promise.all(children.map(stopChild));
  for (const stop of stops.reverse()) await stop().catch(() => {});
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}

function runChild(name: string, entry: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, entry)], {
    cwd: root,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[start] ${name} exited (${signal ?? code}); stopping everything`);
      void shutdown(1);
    }
  });
  children.push(child);
  return child;
}

async function tokenSecret(): Promise<string> {
  const file = join(dataDir, 'token-secret');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const secret = randomBytes(32).toString('base64url');
  await writeFile(file, secret, { mode: 0o600 });
  return secret;
}

/** Relative to the working directory when inside it, for a command line a user can paste. */
function shownPath(file: string): string {
  const shown = relative(process.cwd(), file);
  return shown.startsWith('..') ? file : shown;
}

async function waitForHealth(url: string, deadlineMs: number) {
  while (Date.now() < deadlineMs) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer 200 in time`);
}

async function main() {
  const started = Date.now();
  await mkdir(dataDir, { recursive: true });
  const port = Number(process.env.PORT ?? 3000);

  say('starting PostgreSQL (embedded)…');
  const pg = await startEmbeddedPostgres({ dataDir: join(dataDir, 'postgres') });
  stops.push(pg.stop);
  const databaseUrl = await ensureDatabase(pg.url, 'ks_cloud');
  await applyMigrations(databaseUrl);

  say('starting the Temporal development server…');
  const temporal = await startDevServer({
    port: Number(process.env.TEMPORAL_PORT ?? 7233),
    uiPort: Number(process.env.TEMPORAL_UI_PORT ?? 8233),
    dbFilename: join(dataDir, 'temporal.sqlite'),
  });
  stops.push(temporal.stop);

  const childEnv = {
    ...process.env,
    KS_MODE: 'development',
    DATABASE_URL: databaseUrl,
    PUBLIC_BASE_URL: process.env.PUBLIC_BASE_URL ?? `http://localhost:${port}`,
    TOKEN_SECRET: process.env.TOKEN_SECRET ?? (await tokenSecret()),
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: 'default',
    PORT: String(port),
  };
  const env = parseEnv(childEnv);
  runChild('worker', 'worker/main.ts', childEnv);
  runChild('api', 'api/main.ts', childEnv);
  runChild('gateway', 'gateway/main.ts', childEnv);

  const connection = await Connection.connect({ address: temporal.address });
  const database = connectDatabase(databaseUrl, { max: 2 });
  const demoIqsFile = join(dataDir, 'demo-iqs.json');
  const demo = await seedDemo({
    db: database.db,
    temporal: new Client({ connection }),
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    recordFile: join(dataDir, 'demo.json'),
    iqCredentialsFile: demoIqsFile,
  });
  await database.close();
  await connection.close();
  await waitForHealth(`http://localhost:${port}/health`, Date.now() + 60_000);

  console.log(`
KS Cloud is running (started in ${((Date.now() - started) / 1000).toFixed(1)} s; Ctrl-C stops everything)
  API          http://localhost:${port}          health: /health
  API docs     http://localhost:${port}/docs     OpenAPI: /openapi.json
  Mailbox      http://localhost:${port}/dev/mailbox
  Temporal UI  ${temporal.uiUrl}   (gRPC ${temporal.address})
  IQ gateway   TCP ${env.GATEWAY_PORTS.join(', ')}   (simulated IQs: npm run iq-sim -- --help)
  PostgreSQL   ${databaseUrl.replace(/:[^:@/]+@/, ':***@')}

Demo accounts (password "${DEMO_PASSWORD}"):
${DEMO_ACCOUNTS.map((a) => `  ${a.email.padEnd(24)} ${a.platformRole ?? (a.email.startsWith('owner') ? 'owner of the demo site' : 'admin of the demo site')}`).join('\n')}
Demo site: ${demo.siteId}
  its two IQs come online with: npm run iq-sim -- --credentials ${shownPath(demoIqsFile)} --ports ${env.GATEWAY_PORTS.join(',')}
Unredeemed vouchers (10 users, 2 IQs, 365 days):
${demo.unredeemedCodes.map((c) => `  ${c}`).join('\n')}
`);
}

main().catch((error: unknown) => {
  let cause: unknown = error;
  const reasons: string[] = [];
  while (cause instanceof Error) {
    reasons.push(cause.message);
    cause = cause.cause;
  }
  console.error(`[start] failed: ${reasons.join(': ') || String(error)}`);
  void shutdown(1);
});
