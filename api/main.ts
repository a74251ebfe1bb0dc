import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { loadEnvOrExit } from '../config/env';
import { temporalTarget } from '../config/temporal';
import { connectDatabase } from '../db/client';
import { createMailerFromEnv } from '../emails/create-mailer-from-env';
import { createGatewayClient } from '../gateway/client';
import { createNotificationRelay } from '../outbox/notification-relay';
import { createApp } from './app';

const env = loadEnvOrExit();
const target = temporalTarget();
const database = connectDatabase(env.DATABASE_URL, { max: 20 });
// Lazy: the API starts (and /health says what is missing) even while Temporal is still coming up.
const connection = Connection.lazy(target.connectionOptions);
const temporal = new Client({ connection, namespace: target.namespace });
const gateway = createGatewayClient({ db: database.db, sql: database.sql });
const notifications = createNotificationRelay({
  db: database.db,
  temporal,
  taskQueue: env.TEMPORAL_TASK_QUEUE,
});
const app = createApp({
  db: database.db,
  temporal,
  mailer: createMailerFromEnv(env, database.db),
  gateway,
  notifications,
  env,
  now: () => new Date(),
});

const server = serve({ fetch: app.fetch, port: env.PORT, hostname: '0.0.0.0' }, (info) => {
  console.log(`[api] listening on http://localhost:${info.port}`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close(async () => {
      await notifications.stop();
      await connection.close();
      await gateway.close();
      await database.close();
      process.exit(0);
    });
  });
}
