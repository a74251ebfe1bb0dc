import { NativeConnection } from '@temporalio/worker';
import { createGatewayClient } from '../activities/gateway-client';
import { loadEnvOrExit } from '../config/env';
import { temporalTarget } from '../config/temporal';
import { connectDatabase } from '../db/client';
import { createMailerFromEnv } from '../emails/create-mailer-from-env';
import { createWorker } from './create-worker';

const env = loadEnvOrExit();
const target = temporalTarget();
const database = connectDatabase(env.DATABASE_URL);
const connection = await NativeConnection.connect(target.connectionOptions);
const gateway = createGatewayClient({ db: database.db, sql: database.sql });
const worker = await createWorker({
  connection,
  namespace: target.namespace,
  taskQueue: env.TEMPORAL_TASK_QUEUE,
  deps: {
    db: database.db,
    mailer: createMailerFromEnv(env, database.db),
    gateway,
    publicBaseUrl: env.PUBLIC_BASE_URL,
    supportEmail: env.SUPPORT_EMAIL,
  },
});
console.log(
  `[worker] polling task queue ${env.TEMPORAL_TASK_QUEUE} on ${target.address} (${target.namespace})`,
);
// The SDK shuts the worker down gracefully on SIGINT/SIGTERM; then we close our connections.
await worker.run();
await connection.close();
await gateway.close();
await database.close();
