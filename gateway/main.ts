import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { sql } from 'drizzle-orm';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { commandSecretOrExit, loadEnvOrExit } from '../config/env';
import { temporalClient, temporalTarget } from '../config/temporal';
import { connectDatabase } from '../db/client';
import { errorField, logger, setLogProcess } from '../observability/logger';
import { type MetricsServer, serveMetrics } from '../observability/metrics-server';
import { registerTransactionMetrics } from '../observability/transaction-metrics';
import { createNotificationRelay } from '../outbox/notification-relay';
import { startGateway } from './server';

/** `npm run gateway`: one gateway instance; run several behind the same ports for more IQs. */
const HEARTBEAT_SECONDS = 30;

const env = loadEnvOrExit();
setLogProcess('gateway');
const database = connectDatabase(env.DATABASE_URL, { max: env.DATABASE_POOL_SIZE });
// Temporal only for owner notifications (K6); lazy, so the gateway serves IQs while Temporal is away.
const target = temporalTarget();
const temporal = temporalClient(target);
// Unique per process: the IQ rows name the instance that holds their connection.
const instanceId = `${hostname()
  .replace(/[^A-Za-z0-9_-]/g, '')
  .slice(0, 24)}-${randomBytes(4).toString('hex')}`;

const notifications = createNotificationRelay({
  db: database.db,
  temporal,
  taskQueue: env.TEMPORAL_TASK_QUEUE,
});
const registry = new Registry();
let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
let metricsServer: MetricsServer | undefined;
try {
  gateway = await startGateway({
    db: database.db,
    sql: database.sql,
    ports: env.GATEWAY_PORTS,
    instanceId,
    heartbeatSeconds: HEARTBEAT_SECONDS,
    // Fire and forget: handOver never throws, and a failed hand-over stays queued for the sweep.
    onNotificationQueued: () => void notifications.handOver(),
    guard: {
      maxConnectionsPerAddress: env.GATEWAY_MAX_CONNECTIONS_PER_ADDRESS,
      maxFailedHellos: env.GATEWAY_FAILED_HELLOS_PER_MINUTE,
      windowMs: 60_000,
    },
    metrics: registry,
    command: {
      host: env.GATEWAY_COMMAND_HOST,
      port: env.GATEWAY_COMMAND_PORT ?? 0,
      advertisedHost: env.GATEWAY_COMMAND_ADVERTISED_HOST,
      secret: commandSecretOrExit(env),
    },
  });
  if (env.METRICS_PORT !== undefined) {
    collectDefaultMetrics({ register: registry });
    registerTransactionMetrics(registry);
    // Ready while the database answers: without it no IQ can authenticate.
    metricsServer = await serveMetrics({
      registry,
      port: env.METRICS_PORT,
      ready: () =>
        database.db.execute(sql`select 1`).then(
          () => true,
          () => false,
        ),
    });
  }
} catch (error) {
  // A gateway that cannot start (a port taken, the database down) exits non-zero, so a supervisor
  // sees it, with nothing of it left behind: startGateway has taken down what it had set up.
  logger.fatal({ err: errorField(error) }, 'gateway failed to start');
  await metricsServer?.close().catch(() => {});
  await gateway?.stop().catch(() => {});
  await notifications.stop().catch(() => {});
  await database.close().catch(() => {});
  process.exit(1);
}
// Input from devices never reaches here (each connection catches its own errors); this is the last
// line against a bug taking every connected IQ offline at once. Installed once started: a failed
// start must end the process, not be logged and left running.
process.on('uncaughtException', (error) => logger.error({ err: errorField(error) }, 'uncaught exception'));
process.on('unhandledRejection', (error) => logger.error({ err: errorField(error) }, 'unhandled rejection'));
logger.info(
  { instanceId, ports: gateway.ports, commandUrl: gateway.commandUrl, metricsPort: metricsServer?.port },
  `instance ${instanceId} listening on TCP ${gateway.ports.join(', ')}`,
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await metricsServer?.close();
    await gateway.stop().catch(() => {});
    await notifications.stop();
    await database.close();
    process.exit(0);
  });
}
