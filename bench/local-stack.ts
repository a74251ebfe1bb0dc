import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { createApp } from '../api/app';
import { HTTP_TIMEOUTS, serveApi } from '../api/http-server';
import { API_LIMIT_DEFAULTS, defaultDatabasePoolSize } from '../config/env';
import { quietLazyConnection } from '../config/temporal';
import { applyMigrations, connectDatabase, type Database } from '../db/client';
import { createMailer } from '../emails/mailer';
import { type GatewayClient, noopGatewayClient } from '../gateway/client';
import { ensureDatabase } from '../infra/create-database';
import { freePort } from '../infra/free-port';
import { logger } from '../observability/logger';
import { createNotificationRelay } from '../outbox/notification-relay';
import { createWorker } from '../worker/create-worker';
import { type BenchServer, startBenchInfrastructure } from './temporal-server';

export interface LocalStack {
  url: string;
  database: Database;
  /** The application database's postgres:// URL, for processes of a benchmark's own. */
  databaseUrl: string;
  temporal: Client;
  taskQueue: string;
  native: NativeConnection;
  tokenSecret: string;
  /** The Temporal server it runs on, in words. */
  temporalServer: string;
  /** The command lines of that server's processes, and of PostgreSQL's (bench/cpu.ts). */
  temporalProcesses: RegExp;
  postgresProcesses: RegExp;
  /** Requests the HTTP server answered, how many of them with a 5xx, and the SQL statements of its pool (with countStatements). */
  served: { requests: number; serverErrors: number; statements: number; byStatus: Map<number, number> };
  stop(): Promise<void>;
}

let runtimeInstalled = false;

/**
 * The product in one process for benchmarks and fuzzing: a real PostgreSQL, the Temporal dev server
 * (or, with `server: 'cluster'`, the Temporal cluster of `start:cluster`), a worker and the HTTP API on
 * a free port, all on throwaway data. Counts every answer it serves.
 */
export async function startLocalStack(
  opts: {
    taskQueue?: string;
    mode?: 'development' | 'production';
    server?: BenchServer;
    /** TRUSTED_PROXIES of the API: a load generator on 127.0.0.1 may then name its clients' addresses. */
    trustedProxies?: readonly string[];
    /**
     * Count the pool's SQL statements in `served.statements` (postgres.js debug mode, which also
     * captures a stack per query: figures of such a run are for where the time goes, not for ratios).
     */
    countStatements?: boolean;
    /** The API's gateway client (IQ commands); none connected when omitted. */
    gateway?: (database: Database) => GatewayClient;
  } = {},
) {
  if (!runtimeInstalled) {
    const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
    Runtime.install({ logger: quiet as never });
    runtimeInstalled = true;
  }
  const served = { requests: 0, serverErrors: 0, statements: 0, byStatus: new Map<number, number>() };
  const workDir = await mkdtemp(join(tmpdir(), 'ks-stack-'));
  await chmod(workDir, 0o755);
  const infra = await startBenchInfrastructure(opts.server ?? 'dev', workDir);
  const url = await ensureDatabase(infra.postgresUrl, 'stack');
  await applyMigrations(url);
  const counting = opts.countStatements ? { onQuery: () => served.statements++ } : {};
  // As the product's processes run: API and worker share this one pool here; the API's bounded
  // sign-in statements take a connection of their own (AppDeps.signInDb), as api/main.ts gives it.
  const database = connectDatabase(url, { max: defaultDatabasePoolSize(), ...counting });
  const signIn = connectDatabase(url, { max: 1, ...counting });
  // As the product's processes connect (config/temporal.ts): its call-context storage off while idle.
  const connection = quietLazyConnection({ address: infra.temporalAddress });
  await connection.ensureConnected();
  const temporal = new Client({ connection });
  const native = await NativeConnection.connect({ address: infra.temporalAddress });
  const taskQueue = opts.taskQueue ?? 'stack';
  const tokenSecret = 'local-stack-secret-local-stack-secret';
  const mailer = createMailer({ db: database.db, from: 'stack@ks.test' });
  const worker = await createWorker({
    connection: native,
    namespace: 'default',
    taskQueue,
    deps: {
      db: database.db,
      mailer,
      gateway: noopGatewayClient,
      publicBaseUrl: 'http://stack.test',
      supportEmail: 'support@stack.test',
    },
  });
  const running = worker.run();
  const notifications = createNotificationRelay({ db: database.db, temporal, taskQueue });
  const app = createApp({
    db: database.db,
    signInDb: signIn.db,
    temporal,
    mailer,
    gateway: opts.gateway?.(database) ?? noopGatewayClient,
    ...(opts.trustedProxies ? { trustedProxies: opts.trustedProxies } : {}),
    // The API's limits as deployed: the benches measure what runs.
    maxRequestsInFlightPerAddress: API_LIMIT_DEFAULTS.requestsInFlightPerAddress,
    notifications,
    env: {
      KS_MODE: opts.mode ?? 'development',
      PUBLIC_BASE_URL: 'http://stack.test',
      TOKEN_SECRET: tokenSecret,
      TEMPORAL_TASK_QUEUE: taskQueue,
    },
    now: () => new Date(),
    // A line per request would swamp the figures (LOG_LEVEL=info brings them back).
    logger: logger.child({}, { level: process.env.LOG_LEVEL ?? 'warn' }),
  });
  const port = await freePort();
  const server = serveApi({
    port,
    hostname: '127.0.0.1',
    trustedProxies: opts.trustedProxies ?? [],
    limits: { ...HTTP_TIMEOUTS, maxConnectionsPerAddress: API_LIMIT_DEFAULTS.connectionsPerAddress },
    // The bindings (the Node request and answer) go on to the app, as api/main.ts serves it: the
    // client's address (A6) comes from them.
    fetch: async (request, bindings) => {
      const response = await app.fetch(request, bindings);
      served.requests++;
      served.byStatus.set(response.status, (served.byStatus.get(response.status) ?? 0) + 1);
      if (response.status >= 500) served.serverErrors++;
      return response;
    },
  });

  const stack: LocalStack = {
    url: `http://127.0.0.1:${port}`,
    database,
    databaseUrl: url,
    temporal,
    taskQueue,
    native,
    tokenSecret,
    temporalServer: infra.description,
    temporalProcesses: infra.temporalProcesses,
    postgresProcesses: infra.postgresProcesses,
    served,
    async stop() {
      server.close();
      await notifications.stop();
      worker.shutdown();
      await running;
      await connection.close();
      await native.close();
      await signIn.close();
      await database.close();
      await infra.stop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
  return stack;
}
