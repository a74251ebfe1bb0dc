import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { createRedemptionAnnouncer } from '../../activities/subscription';
import { createApp } from '../../api/app';
import { hashPassword } from '../../api/auth/passwords';
import { connectDatabase } from '../../db/client';
import { insertProfile, updateProfile } from '../../db/queries/profiles';
import { createMailer, type Mailer } from '../../emails/mailer';
import type { GatewayClient } from '../../gateway/client';
import { createGatewayClient } from '../../gateway/client';
import { createAccountMailRelay } from '../../outbox/account-mail-relay';
import { createNotificationRelay, type NotificationRelay } from '../../outbox/notification-relay';
import { createRedemptionRelay } from '../../outbox/redemption-relay';
import type { RelayLoop } from '../../outbox/relay-loop';
import { createWorker } from '../../worker/create-worker';
import { createTestDatabase } from './database';

export const TEST_TOKEN_SECRET = 'test-secret-that-is-long-enough-0123456789';
export const TEST_BASE_URL = 'http://ks.test';
export const TEST_SUPPORT_EMAIL = 'support@ks.test';

export interface TestSystem {
  db: Awaited<ReturnType<typeof createTestDatabase>>['db'];
  sql: Awaited<ReturnType<typeof createTestDatabase>>['sql'];
  databaseUrl: string;
  temporal: Client;
  taskQueue: string;
  worker: Worker;
  app: ReturnType<typeof createApp>;
  /** The app's relay of queued owner notifications (K6). */
  notifications: NotificationRelay;
  /** The app's relay of queued sign-up and reset emails (A4): `await handOver()` before reading them. */
  accountMail: RelayLoop;
  /** The app's relay of claimed redemptions (tells the workflow, pushes, sends the receipt). */
  redemptions: RelayLoop;
  /** Starts the worker (again) after `stopWorker`. */
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  request(
    method: string,
    path: string,
    opts?: { token?: string | undefined; body?: unknown; headers?: Record<string, string> },
  ): Promise<Response>;
  /** A confirmed profile and its bearer token. */
  signIn(opts?: {
    email?: string;
    name?: string;
    platformRole?: 'installer' | 'support';
  }): Promise<{ id: string; email: string; token: string }>;
  mailbox(): Promise<
    Array<{
      to: string;
      template: string;
      subject: string;
      idempotencyKey: string;
      html: string;
      text: string;
    }>
  >;
  close(): Promise<void>;
}

/**
 * The product wired for a test: a fresh database, a real worker on its own task queue against the
 * given Temporal server (time-skipping or the shared dev server), and the Hono app called in-process.
 */
export async function startTestSystem(opts: {
  env?: TestWorkflowEnvironment;
  mailer?: (db: TestSystem['db']) => Mailer;
  gateway?: GatewayClient;
  now?: () => Date;
  /**
   * No workflow cache: no sticky queues, so a restarted worker picks up tasks at once even on the
   * time-skipping server, whose locked clock would never time out a dead worker's sticky queue.
   */
  uncachedWorker?: boolean;
  /**
   * A pool of its own for the app and its relays, of this many connections (the API is a process of
   * its own in production); the worker keeps the system's.
   */
  appPoolSize?: number;
  /**
   * On a time-skipping server, the app's clock follows the server's (skipped) time, read before each
   * request, as a deployed API's clock and Temporal's agree: for tests whose HTTP redemptions start
   * terms that the workflow times. Sessions age with it (12-hour tokens end across a skipped day).
   */
  followServerClock?: boolean;
}): Promise<TestSystem> {
  const database = await createTestDatabase();
  const appDatabase =
    opts.appPoolSize === undefined ? database : connectDatabase(database.url, { max: opts.appPoolSize });
  // As the API runs: bounded sign-in statements on a connection of their own (AppDeps.signInDb).
  const signInDatabase = connectDatabase(database.url, { max: 1 });
  const taskQueue = `test-${randomUUID()}`;
  const ownConnection = opts.env
    ? undefined
    : await Connection.connect({ address: inject('devServerAddress') });
  const temporal = opts.env ? opts.env.client : new Client({ connection: ownConnection! });
  const nativeConnection = opts.env
    ? opts.env.nativeConnection
    : await NativeConnection.connect({ address: inject('devServerAddress') });
  const mailerOf = (db: TestSystem['db']) =>
    opts.mailer ? opts.mailer(db) : createMailer({ db, from: 'KS Cloud <test@ks.test>' });
  const mailer = mailerOf(database.db);
  let skewMs = 0;
  const now = opts.now ?? (() => new Date(Date.now() + skewMs));
  // The real bus client: with no gateway running it finds no IQ online, so it changes nothing.
  const busClient = opts.gateway ? undefined : createGatewayClient({ db: database.db, sql: database.sql });
  const gateway = opts.gateway ?? busClient!;

  const newWorker = () =>
    createWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      deps: {
        db: database.db,
        mailer,
        gateway,
        publicBaseUrl: TEST_BASE_URL,
        supportEmail: TEST_SUPPORT_EMAIL,
      },
      workflowBundle: { codePath: inject('workflowBundlePath') },
      ...(opts.uncachedWorker ? { tuning: { maxCachedWorkflows: 0 } } : {}),
    });
  let worker = await newWorker();
  let running = worker.run();

  const appMailer = appDatabase === database ? mailer : mailerOf(appDatabase.db);
  const notifications = createNotificationRelay({ db: appDatabase.db, temporal, taskQueue });
  const accountMail = createAccountMailRelay({
    db: appDatabase.db,
    mailing: { mailer: appMailer, publicBaseUrl: TEST_BASE_URL },
    now,
  });
  const redemptions = createRedemptionRelay({
    db: appDatabase.db,
    temporal,
    taskQueue,
    announce: createRedemptionAnnouncer({ db: appDatabase.db, mailer: appMailer, gateway }),
  });
  const app = createApp({
    db: appDatabase.db,
    signInDb: signInDatabase.db,
    temporal,
    mailer: appMailer,
    gateway,
    notifications,
    accountMail,
    redemptions,
    env: {
      KS_MODE: 'development',
      PUBLIC_BASE_URL: TEST_BASE_URL,
      TOKEN_SECRET: TEST_TOKEN_SECRET,
      TEMPORAL_TASK_QUEUE: taskQueue,
    },
    now,
  });

  const system: TestSystem = {
    db: database.db,
    sql: database.sql,
    databaseUrl: database.url,
    temporal,
    taskQueue,
    get worker() {
      return worker;
    },
    app,
    notifications,
    accountMail,
    redemptions,
    async startWorker() {
      worker = await newWorker();
      running = worker.run();
    },
    async stopWorker() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
    async request(method, path, { token, body, headers } = {}) {
      if (opts.followServerClock && opts.env) skewMs = (await opts.env.currentTimeMs()) - Date.now();
      const init: RequestInit = { method, headers: { ...headers } };
      if (token) (init.headers as Record<string, string>).authorization = `Bearer ${token}`;
      if (body !== undefined) {
        (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
      }
      return app.request(path, init);
    },
    async signIn({ email = `${randomUUID()}@example.test`, name = 'Test Person', platformRole } = {}) {
      const profile = await insertProfile(database.db, {
        email,
        name,
        passwordHash: await hashPassword('correct horse battery'),
        emailConfirmedAt: new Date(),
      });
      if (!profile) throw new Error(`profile ${email} exists`);
      if (platformRole) await updateProfile(database.db, profile.id, { platformRole });
      const res = await system.request('POST', '/auth/login', {
        body: { email, password: 'correct horse battery' },
      });
      const { token } = (await res.json()) as { token: string };
      return { id: profile.id, email: profile.email, token };
    },
    async mailbox() {
      // What requests queued for the account-mail relay is sent first (it runs off the request path).
      await accountMail.handOver();
      return database.sql`select to_address as "to", template, subject, idempotency_key as "idempotencyKey", html, text
        from sent_emails order by created_at, id`;
    },
    async close() {
      await notifications.stop();
      await accountMail.stop();
      await redemptions.stop();
      await system.stopWorker();
      await ownConnection?.close();
      if (!opts.env) await nativeConnection.close();
      await busClient?.close();
      if (appDatabase !== database) await appDatabase.close();
      await signInDatabase.close();
      await database.close();
    },
  };
  return system;
}
