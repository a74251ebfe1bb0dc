/**
 * The API through a PostgreSQL restart (same port, same data): while it is down every request is
 * answered 503 `temporarily_unavailable`, not 500 and not held, whether its sign-in statement takes
 * the sign-in connection (AppDeps.signInDb, one connection) or the pool; once it is back both answer
 * as before, the one sign-in connection made again by postgres.js.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../api/app';
import { issueBearerToken } from '../../api/auth/tokens';
import { connectDatabase } from '../../db/client';
import { insertProfile } from '../../db/queries/profiles';
import { memberships, sites } from '../../db/schema';
import { createMailer } from '../../emails/mailer';
import { noopGatewayClient } from '../../gateway/client';
import { createNotificationRelay } from '../../outbox/notification-relay';
import { TEST_BASE_URL, TEST_TOKEN_SECRET } from '../support/system';
import { startRestartablePostgres } from './restartable-postgres';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

describe('the API through a PostgreSQL restart', () => {
  it('answers 503 while it is down, on the sign-in connection and the pool alike, and 200 once it is back', async () => {
    const pg = await startRestartablePostgres('api_restart');
    cleanups.push(() => pg.close());
    const url = pg.url;
    const pool = connectDatabase(url, { max: 2 });
    const signIn = connectDatabase(url, { max: 1 });
    cleanups.push(
      () => pool.close(),
      () => signIn.close(),
    );

    const profile = await insertProfile(pool.db, {
      email: 'restart@example.test',
      name: 'Restart',
      passwordHash: 'unused',
      emailConfirmedAt: new Date(),
    });
    const token = await issueBearerToken(pool.db, profile!.id, new Date());
    const [site] = await pool.db.insert(sites).values({ name: 'Restart site' }).returning();
    await pool.db.insert(memberships).values({ siteId: site!.id, profileId: profile!.id, role: 'owner' });

    // Temporal is not asked by these routes; the connection is made only if it were.
    const temporal = new Client({ connection: Connection.lazy({ address: inject('devServerAddress') }) });
    const app = createApp({
      db: pool.db,
      signInDb: signIn.db,
      temporal,
      mailer: createMailer({ db: pool.db, from: 'KS Cloud <test@ks.test>' }),
      gateway: noopGatewayClient,
      notifications: createNotificationRelay({ db: pool.db, temporal, taskQueue: 'unused' }),
      env: {
        KS_MODE: 'development',
        PUBLIC_BASE_URL: TEST_BASE_URL,
        TOKEN_SECRET: TEST_TOKEN_SECRET,
        TEMPORAL_TASK_QUEUE: 'unused',
      },
      now: () => new Date(),
    });
    // GET /sites/:id signs in on the sign-in connection, GET /me (memberships grow) on the pool.
    const paths = [`/sites/${site!.id}`, '/me'];
    const answers = async () =>
      Promise.all(
        paths.map(async (path) => {
          const res = await app.request(path, { headers: { authorization: `Bearer ${token}` } });
          const body = (await res.json()) as { code?: string };
          return `${res.status}${body.code ? ` ${body.code}` : ''}`;
        }),
      );

    expect(await answers()).toEqual(['200', '200']);
    await pg.stop();
    // Several rounds: the first finds the connections broken, the next ones find no server to dial.
    for (let round = 0; round < 3; round++) {
      expect(await answers()).toEqual(['503 temporarily_unavailable', '503 temporarily_unavailable']);
    }
    await pg.start();
    let after: string[] = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      after = await answers();
      if (after.every((answer) => answer === '200')) break;
      await sleep(100);
    }
    expect(after).toEqual(['200', '200']);
  }, 120_000);
});
