import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseEnv } from '../config/env';
import { applyMigrations } from '../db/client';
import { ensureDatabase } from '../infra/create-database';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { freePort } from '../infra/free-port';
import { startTemporalCluster } from '../infra/temporal-cluster';
import { writeWorkflowBundle } from '../worker/bundle';
import {
  banner,
  clusterMode,
  createLauncher,
  seedDemoData,
  serverPorts,
  tokenSecret,
  waitForHealth,
  waitForWorkerPolling,
  withoutPassword,
} from './launcher';

/**
 * `npm run start:cluster`: the production topology on this machine. PostgreSQL (embedded, or
 * DATABASE_URL's server), Temporal's own databases set up by deploy/temporal/setup-schema.sh, the
 * Temporal server as one process per service with the history service on two hosts (each host on its
 * own loopback address), its Web UI, and two of every product process: APIs on PORT and PORT+1,
 * workers, and one gateway per port of GATEWAY_PORTS. Data lives in .data-cluster/ (KS_DATA_DIR).
 * Development mode with demo data unless KS_MODE=production (clusterMode).
 */
const launcher = createLauncher({ tag: 'cluster', defaultDataDir: '.data-cluster' });
const { dataDir, say } = launcher;
const PROCESSES_OF_EACH = 2;

async function main() {
  const started = Date.now();
  await mkdir(dataDir, { recursive: true });
  const port = Number(process.env.PORT ?? 3000);
  const apiPorts = Array.from({ length: PROCESSES_OF_EACH }, (_, i) => port + i);
  const ports = serverPorts(apiPorts);

  let databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    say(`using PostgreSQL at ${withoutPassword(databaseUrl)}`);
  } else {
    say('starting PostgreSQL (embedded)…');
    const pg = await startEmbeddedPostgres({
      dataDir: join(dataDir, 'postgres'),
      logFile: join(dataDir, 'postgres.log'),
      durable: true,
      port: await freePort({ avoid: ports.all }),
    });
    launcher.onStop(pg.stop);
    databaseUrl = await ensureDatabase(pg.url, 'ks_cloud');
  }
  await applyMigrations(databaseUrl);

  const temporal = await startTemporalCluster({
    // Temporal's databases live on the same server, beside the application's.
    postgresUrl: databaseUrl,
    dir: join(dataDir, 'temporal'),
    port: ports.temporal,
    uiPort: ports.temporalUi,
    supervise: true,
    log: say,
  });
  launcher.onStop(temporal.stop);

  // The workers (and their restarts) load one bundle of the workflow code instead of each building its own.
  let workflowBundle = process.env.WORKFLOW_BUNDLE;
  if (!workflowBundle) {
    workflowBundle = join(dataDir, 'workflow-bundle.js');
    await writeWorkflowBundle(workflowBundle);
  }

  const { mode, demo: withDemo } = clusterMode(process.env);
  const childEnv = {
    ...process.env,
    KS_MODE: mode,
    WORKFLOW_BUNDLE: workflowBundle,
    DATABASE_URL: databaseUrl,
    PUBLIC_BASE_URL: process.env.PUBLIC_BASE_URL ?? `http://localhost:${port}`,
    TOKEN_SECRET: process.env.TOKEN_SECRET ?? (await tokenSecret(dataDir)),
    // The API's key to the gateways' internal command endpoints: this run's processes only.
    GATEWAY_COMMAND_SECRET: process.env.GATEWAY_COMMAND_SECRET ?? randomBytes(32).toString('base64url'),
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
  };
  const env = parseEnv(childEnv);
  const metrics: string[] = [];
  const run = async (name: string, entry: string, extra: Record<string, string>) => {
    const metricsPort = await freePort({ avoid: ports.all });
    metrics.push(`${name} :${metricsPort}`);
    // A process that dies is started again, as compose's `restart: unless-stopped` would.
    launcher.runChild(
      name,
      entry,
      { ...childEnv, ...extra, METRICS_PORT: String(metricsPort) },
      { restart: true },
    );
  };
  for (let i = 1; i <= PROCESSES_OF_EACH; i++) await run(`worker-${i}`, 'worker/main.ts', {});
  for (const [i, apiPort] of apiPorts.entries()) {
    await run(`api-${i + 1}`, 'api/main.ts', { PORT: String(apiPort) });
  }
  // One gateway per port: an IQ that loses one tries the next (API.md), and finds the other instance.
  for (const [i, gatewayPort] of env.GATEWAY_PORTS.entries()) {
    await run(`gateway-${i + 1}`, 'gateway/main.ts', { GATEWAY_PORTS: String(gatewayPort) });
  }

  const demo = withDemo
    ? await seedDemoData({
        dataDir,
        databaseUrl,
        temporalAddress: temporal.address,
        namespace: temporal.namespace,
        taskQueue: env.TEMPORAL_TASK_QUEUE,
      })
    : undefined;
  for (const apiPort of apiPorts)
    await waitForHealth(`http://localhost:${apiPort}/health`, Date.now() + 60_000);
  await waitForWorkerPolling({
    temporalAddress: temporal.address,
    namespace: temporal.namespace,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    deadlineMs: Date.now() + 60_000,
  });

  const hosts = temporal.hosts();
  console.log(
    banner({
      title: 'KS Cloud is running as a cluster',
      started,
      apiPorts,
      rows: [
        ['Temporal UI', `${temporal.uiUrl}   (gRPC ${temporal.address})`],
        [
          'Temporal',
          `${hosts.map((h) => `${h.name} ${h.ip}`).join(', ')}   (PostgreSQL persistence and visibility; logs in ${join(dataDir, 'temporal', 'logs')})`,
        ],
        ['Workers', `${PROCESSES_OF_EACH} on task queue ${env.TEMPORAL_TASK_QUEUE}`],
        [
          'IQ gateway',
          `${env.GATEWAY_PORTS.map((p, i) => `TCP ${p} (gateway-${i + 1})`).join(', ')}   (simulated IQs: npm run iq-sim -- --help)`,
        ],
        ['Metrics', `${metrics.join(', ')}   (GET /metrics)`],
        // The embedded cluster's password guards nothing (the URL pastes into psql, quoted for its `?host=`);
        // a given one stays hidden.
        ['PostgreSQL', process.env.DATABASE_URL ? withoutPassword(databaseUrl) : `psql '${databaseUrl}'`],
      ],
      gatewayPorts: env.GATEWAY_PORTS,
      demo,
    }),
  );
}

main().catch(launcher.fail);
