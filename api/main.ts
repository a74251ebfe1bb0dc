import { collectDefaultMetrics } from 'prom-client';
import { createRedemptionAnnouncer } from '../activities/subscription';
import { commandSecretOrExit, loadEnvOrExit } from '../config/env';
import { apiTemporalClient, temporalTarget } from '../config/temporal';
import { connectDatabase } from '../db/client';
import { outboxBacklogs } from '../db/queries/outboxes';
import { createMailerFromEnv } from '../emails/create-mailer-from-env';
import { createGatewayClient } from '../gateway/client';
import { createHttpMetrics } from '../observability/http-metrics';
import { logger, setLogProcess } from '../observability/logger';
import { type MetricsServer, serveMetrics } from '../observability/metrics-server';
import { registerOutboxMetrics } from '../observability/outbox-metrics';
import { registerTransactionMetrics } from '../observability/transaction-metrics';
import { createAccountMailRelay } from '../outbox/account-mail-relay';
import { createNotificationRelay } from '../outbox/notification-relay';
import { createRedemptionRelay } from '../outbox/redemption-relay';
import { createApp } from './app';
import { HTTP_TIMEOUTS, serveApi } from './http-server';

const env = loadEnvOrExit();
setLogProcess('api');
const target = temporalTarget();
const database = connectDatabase(env.DATABASE_URL, { max: env.DATABASE_POOL_SIZE });
// Bounded sign-in statements on a connection of their own, pipelined (AppDeps.signInDb).
const signIn = connectDatabase(env.DATABASE_URL, { max: 1 });
const temporal = apiTemporalClient(target);
const gateway = createGatewayClient({
  db: database.db,
  sql: database.sql,
  commandSecret: commandSecretOrExit(env),
});
const notifications = createNotificationRelay({
  db: database.db,
  temporal,
  taskQueue: env.TEMPORAL_TASK_QUEUE,
});
const mailer = createMailerFromEnv(env, database.db);
// Kicked after each sign-up or reset request; the worker sweeps what this one could not send.
const accountMail = createAccountMailRelay({
  db: database.db,
  mailing: { mailer, publicBaseUrl: env.PUBLIC_BASE_URL },
});
// Kicked after each claimed redemption: tells the site's workflow, pushes to its IQs, sends the
// receipt; the worker sweeps what this one could not.
const redemptions = createRedemptionRelay({
  db: database.db,
  temporal,
  taskQueue: env.TEMPORAL_TASK_QUEUE,
  announce: createRedemptionAnnouncer({ db: database.db, mailer, gateway }),
});
const metrics = createHttpMetrics();
collectDefaultMetrics({ register: metrics.registry });
registerOutboxMetrics(metrics.registry, () => outboxBacklogs(database.db));
registerTransactionMetrics(metrics.registry);
const app = createApp({
  db: database.db,
  signInDb: signIn.db,
  temporal,
  mailer,
  gateway,
  notifications,
  accountMail,
  redemptions,
  trustedProxies: env.TRUSTED_PROXIES,
  maxRequestsInFlightPerAddress: env.API_MAX_REQUESTS_IN_FLIGHT_PER_ADDRESS,
  env,
  now: () => new Date(),
  logger,
  metrics,
});

// Development serves /dev/mailbox (reset links): loopback only unless HOST says otherwise.
const hostname = env.HOST ?? (env.KS_MODE === 'development' ? '127.0.0.1' : '0.0.0.0');
const server = serveApi({
  fetch: app.fetch,
  port: env.PORT,
  hostname,
  trustedProxies: env.TRUSTED_PROXIES,
  limits: { ...HTTP_TIMEOUTS, maxConnectionsPerAddress: env.API_MAX_CONNECTIONS_PER_ADDRESS },
  onListening: (info) => {
    logger.info({ port: info.port, hostname }, `listening on http://${hostname}:${info.port}`);
  },
});
// Off the public port: API.md lists what answers without a token, and metrics are not on it.
let metricsServer: MetricsServer | undefined;
if (env.METRICS_PORT !== undefined) {
  metricsServer = await serveMetrics({ registry: metrics.registry, port: env.METRICS_PORT });
  logger.info({ port: metricsServer.port }, `metrics on http://localhost:${metricsServer.port}/metrics`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close(async () => {
      await metricsServer?.close();
      await notifications.stop();
      await accountMail.stop();
      await redemptions.stop();
      await temporal.connection.close();
      await gateway.close();
      await signIn.close();
      await database.close();
      process.exit(0);
    });
  });
}
