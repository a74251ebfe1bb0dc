import { NativeConnection } from '@temporalio/worker';
import { createRedemptionAnnouncer } from '../activities/subscription';
import { loadEnvOrExit } from '../config/env';
import { temporalClient, temporalTarget } from '../config/temporal';
import { connectDatabase } from '../db/client';
import { pruneThrottles } from '../db/queries/throttles';
import { createMailerFromEnv } from '../emails/create-mailer-from-env';
import { createGatewayClient } from '../gateway/client';
import { errorField, logger, setLogProcess } from '../observability/logger';
import { createAccountMailRelay } from '../outbox/account-mail-relay';
import { createNotificationRelay } from '../outbox/notification-relay';
import { createRedemptionRelay } from '../outbox/redemption-relay';
import { connectWhenReachable } from './connect';
import { createWorker } from './create-worker';
import { installRuntime } from './runtime';

/** How often queued owner notifications left behind by a failed hand-over are tried again (K6). */
const NOTIFICATION_SWEEP_MS = 10_000;
/** How often account emails the API could not send at once (provider away) are tried again (A4). */
const ACCOUNT_MAIL_SWEEP_MS = 5_000;
/** How often redemption receipts and IQ pushes a failed or interrupted round left queued are tried again. */
const REDEMPTION_SWEEP_MS = 5_000;

const env = loadEnvOrExit();
setLogProcess('worker');
installRuntime({ logger, metricsPort: env.METRICS_PORT });
const target = temporalTarget();
const database = connectDatabase(env.DATABASE_URL, { max: env.DATABASE_POOL_SIZE });
// Until Temporal answers, a stop signal ends the wait (the SDK's own handlers only stop workers).
const stopWaiting = new AbortController();
const stop = () => stopWaiting.abort();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, stop);
const connection = await connectWhenReachable(() => NativeConnection.connect(target.connectionOptions), {
  signal: stopWaiting.signal,
  // The address only: the connection options may hold an API key or client certificate.
  onFailure: ({ attempt, retryInMs, error }) =>
    logger.warn(
      { address: target.address, attempt, retryInMs, err: errorField(error) },
      `Temporal at ${target.address} does not answer; trying again in ${retryInMs} ms`,
    ),
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.off(signal, stop);
if (!connection) {
  logger.info('stopped while waiting for Temporal');
  await database.close();
  process.exit(0);
}
const gateway = createGatewayClient({ db: database.db, sql: database.sql });
const mailer = createMailerFromEnv(env, database.db);
// The API's claims kick their own; this one's sweep takes what a stopped process or a failed send left
// queued (and the claims of workflows recorded before, kicked here).
const temporal = temporalClient(target);
const redemptions = createRedemptionRelay({
  db: database.db,
  temporal,
  taskQueue: env.TEMPORAL_TASK_QUEUE,
  announce: createRedemptionAnnouncer({ db: database.db, mailer, gateway }),
});
redemptions.start(REDEMPTION_SWEEP_MS);
void redemptions.handOver();
const worker = await createWorker({
  connection,
  namespace: target.namespace,
  taskQueue: env.TEMPORAL_TASK_QUEUE,
  shutdownGraceMs: env.WORKER_SHUTDOWN_GRACE_SECONDS * 1000,
  ...(env.WORKFLOW_BUNDLE ? { workflowBundle: { codePath: env.WORKFLOW_BUNDLE } } : {}),
  deps: {
    db: database.db,
    mailer,
    gateway,
    publicBaseUrl: env.PUBLIC_BASE_URL,
    supportEmail: env.SUPPORT_EMAIL,
    redemptions,
  },
});
// The API and the gateway hand over the notifications they queue at once; the worker sweeps what
// they could not (Temporal away, or a process stopped in between).
const notifications = createNotificationRelay({
  db: database.db,
  temporal,
  taskQueue: env.TEMPORAL_TASK_QUEUE,
});
notifications.start(NOTIFICATION_SWEEP_MS);
const accountMail = createAccountMailRelay({
  db: database.db,
  mailing: { mailer, publicBaseUrl: env.PUBLIC_BASE_URL },
});
accountMail.start(ACCOUNT_MAIL_SWEEP_MS);
// Throttle rows whose every attempt has been given back by time count nothing: tidied hourly.
const throttleSweep = setInterval(
  () =>
    void pruneThrottles(database.db, new Date()).catch((err) =>
      logger.warn({ err: errorField(err) }, 'throttle sweep failed'),
    ),
  3600_000,
);
throttleSweep.unref();
logger.info(
  { taskQueue: env.TEMPORAL_TASK_QUEUE, namespace: target.namespace, metricsPort: env.METRICS_PORT },
  `polling task queue ${env.TEMPORAL_TASK_QUEUE} on ${target.address} (${target.namespace})`,
);
// On SIGINT/SIGTERM the SDK stops polling and lets in-flight activities finish for up to
// WORKER_SHUTDOWN_GRACE_SECONDS before cancelling them; then we close our connections.
await worker.run();
await notifications.stop();
await accountMail.stop();
await redemptions.stop();
clearInterval(throttleSweep);
await temporal.connection.close();
await connection.close();
await gateway.close();
await database.close();
