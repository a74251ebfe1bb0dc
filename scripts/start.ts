import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseEnv } from '../config/env';
import { applyMigrations } from '../db/client';
import { ensureDatabase } from '../infra/create-database';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { freePort } from '../infra/free-port';
import { startDevServer } from '../infra/temporal-servers';
import { writeWorkflowBundle } from '../worker/bundle';
import {
  banner,
  createLauncher,
  seedDemoData,
  serverPorts,
  tokenSecret,
  waitForHealth,
  waitForWorkerPolling,
} from './launcher';

/**
 * `npm start`: the whole system on embedded defaults in one command. A real PostgreSQL (embedded
 * binaries) and the Temporal development server with its Web UI, then the worker, the API and the
 * device gateway as child processes. Data lives in .data/ and is reused by the next start.
 */
const launcher = createLauncher({ tag: 'start', defaultDataDir: '.data' });
const { dataDir, say } = launcher;

async function main() {
  const started = Date.now();
  await mkdir(dataDir, { recursive: true });
  const port = Number(process.env.PORT ?? 3000);
  const ports = serverPorts([port]);

  say('starting PostgreSQL (embedded)…');
  const pg = await startEmbeddedPostgres({
    dataDir: join(dataDir, 'postgres'),
    logFile: join(dataDir, 'postgres.log'),
    durable: true,
    port: await freePort({ avoid: ports.all }),
  });
  launcher.onStop(pg.stop);
  const databaseUrl = await ensureDatabase(pg.url, 'ks_cloud');
  await applyMigrations(databaseUrl);

  say('starting the Temporal development server…');
  const temporal = await startDevServer({
    port: ports.temporal,
    uiPort: ports.temporalUi,
    dbFilename: join(dataDir, 'temporal.sqlite'),
  });
  launcher.onStop(temporal.stop);

  // Bundled here, quietly (webpack's report stays out of the console), and loaded by the worker.
  say('bundling the workflow code…');
  const workflowBundle = join(dataDir, 'workflow-bundle.js');
  await writeWorkflowBundle(workflowBundle);

  const childEnv = {
    ...process.env,
    KS_MODE: 'development',
    DATABASE_URL: databaseUrl,
    PUBLIC_BASE_URL: process.env.PUBLIC_BASE_URL ?? `http://localhost:${port}`,
    TOKEN_SECRET: process.env.TOKEN_SECRET ?? (await tokenSecret(dataDir)),
    // The API's key to the gateways' internal command endpoints: this run's processes only.
    GATEWAY_COMMAND_SECRET: process.env.GATEWAY_COMMAND_SECRET ?? randomBytes(32).toString('base64url'),
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: 'default',
    PORT: String(port),
    WORKFLOW_BUNDLE: workflowBundle,
  };
  const env = parseEnv(childEnv);
  launcher.runChild('worker', 'worker/main.ts', childEnv);
  launcher.runChild('api', 'api/main.ts', childEnv);
  launcher.runChild('gateway', 'gateway/main.ts', childEnv);

  const demo = await seedDemoData({
    dataDir,
    databaseUrl,
    temporalAddress: temporal.address,
    namespace: 'default',
    taskQueue: env.TEMPORAL_TASK_QUEUE,
  });
  await waitForHealth(`http://localhost:${port}/health`, Date.now() + 60_000);
  await waitForWorkerPolling({
    temporalAddress: temporal.address,
    namespace: 'default',
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    deadlineMs: Date.now() + 60_000,
  });

  console.log(
    banner({
      title: 'KS Cloud is running',
      started,
      apiPorts: [port],
      rows: [
        ['Temporal UI', `${temporal.uiUrl}   (gRPC ${temporal.address})`],
        ['IQ gateway', `TCP ${env.GATEWAY_PORTS.join(', ')}   (simulated IQs: npm run iq-sim -- --help)`],
        // The embedded cluster is local and its password guards nothing: the URL pastes into psql (quoted:
        // its `?host=` names the socket directory, and a shell would read `?` as a pattern).
        ['PostgreSQL', `psql '${databaseUrl}'`],
      ],
      gatewayPorts: env.GATEWAY_PORTS,
      demo,
    }),
  );
}

main().catch(launcher.fail);
