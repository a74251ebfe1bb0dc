import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { createApp } from '../api/app';
import { connectDatabase } from '../db/client';
import { refusingMailer } from '../emails/mailer';
import { noopGatewayClient } from '../gateway/client';
import { createNotificationRelay } from '../outbox/notification-relay';

/**
 * `createApp` in this process with nothing started or connected: the database and Temporal clients
 * are lazy and never used by what `use` may do (read the routes, build the document). Development
 * mode serves the superset (it adds /dev/mailbox).
 */
export async function withRoutesOnlyApp<T>(
  use: (app: ReturnType<typeof createApp>) => Promise<T>,
): Promise<T> {
  const taskQueue = 'ks-cloud';
  const database = connectDatabase('postgres://openapi@127.0.0.1:1/none', { max: 1 });
  const connection = Connection.lazy({ address: '127.0.0.1:1' });
  const temporal = new Client({ connection });
  try {
    return await use(
      createApp({
        db: database.db,
        temporal,
        mailer: refusingMailer('no email while reading the routes'),
        gateway: noopGatewayClient,
        notifications: createNotificationRelay({ db: database.db, temporal, taskQueue }),
        env: {
          KS_MODE: 'development',
          PUBLIC_BASE_URL: 'http://localhost:3000',
          TOKEN_SECRET: 'document-only-secret-that-signs-nothing-at-all',
          TEMPORAL_TASK_QUEUE: taskQueue,
        },
        now: () => new Date(),
        logger: pino({ level: 'silent' }),
      }),
    );
  } finally {
    await connection.close();
    await database.close();
  }
}

/** The document the API serves at /openapi.json (withRoutesOnlyApp's). */
export function buildOpenApiDocument(): Promise<Record<string, unknown>> {
  return withRoutesOnlyApp(async (app) => {
    const res = await app.request('/openapi.json');
    if (res.status !== 200) throw new Error(`/openapi.json answered ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  });
}
