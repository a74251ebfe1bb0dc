/**
 * Records profile-deletion histories with the workflow code of this checkout, for the replay tests of
 * the code that comes after it (test/workflows/profile-deletion-replay.test.ts). Run it before
 * changing workflows/profile-deletion/, on the code before the change:
 *
 *   npx tsx test/workflows/histories/record-profile-deletion.ts <label>
 *
 * Seven requests on the time-skipping server, a PostgreSQL and a worker in this process, answered
 * through the HTTP API's consent pages and support endpoints: two sites approve; one approves and the
 * other denies; nobody answers (reminder, then timed out); support cancels; the person owns a site
 * (blocked); and two whose answers land while the deadline closes the request, after the workflow's
 * last read (N7): a denial, and the last approval. Each is written as
 * `profile-deletion-<label>-<run>.binpb` (binary protobuf: see subscription-replay.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protos from '@temporalio/proto';
import { Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { sql as raw } from 'drizzle-orm';
import { createApp } from '../../../api/app';
import { hashPassword } from '../../../api/auth/passwords';
import { applyMigrations, connectDatabase } from '../../../db/client';
import { insertProfile, updateProfile } from '../../../db/queries/profiles';
import { memberships, sites } from '../../../db/schema';
import { createMailer } from '../../../emails/mailer';
import { createGatewayClient } from '../../../gateway/client';
import { ensureDatabase } from '../../../infra/create-database';
import { startEmbeddedPostgres } from '../../../infra/embedded-postgres';
import { createTimeSkippingEnv } from '../../../infra/temporal-servers';
import { createNotificationRelay } from '../../../outbox/notification-relay';
import { createWorker } from '../../../worker/create-worker';
import { profileDeletionWorkflowId } from '../../../workflows/ids';

const label = process.argv[2];
if (!label || !/^[a-z0-9-]+$/.test(label)) {
  console.error(
    'usage: npx tsx test/workflows/histories/record-profile-deletion.ts <label, e.g. consent-two-writers>',
  );
  process.exit(2);
}

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
Runtime.install({ logger: quiet as never });
const workDir = await mkdtemp(join(tmpdir(), 'ks-record-'));
await chmod(workDir, 0o755);
const [pg, env] = await Promise.all([
  startEmbeddedPostgres({ dataDir: join(workDir, 'pg') }),
  createTimeSkippingEnv(),
]);

try {
  const url = await ensureDatabase(pg.url, 'record');
  await applyMigrations(url);
  const database = connectDatabase(url);
  const { db } = database;
  const mailer = createMailer({ db, from: 'record@ks.test' });
  const gateway = createGatewayClient({ db, sql: database.sql });
  const taskQueue = 'record';
  // A consent page's answer landing between the workflow's last read and the deadline's end, stood
  // in for by recording it (for every site still pending) just before the end's activity runs.
  const atDeadline = new Map<string, 'approved' | 'denied'>();
  const create = Worker.create.bind(Worker);
  Worker.create = (options: WorkerOptions) => {
    const activities = options.activities as Record<string, (input: never) => Promise<unknown>>;
    const finish = activities.finishDeletionRequest!;
    return create({
      ...options,
      activities: {
        ...activities,
        finishDeletionRequest: async (input: { requestId: string; status: string }) => {
          const decision = atDeadline.get(input.requestId);
          if (decision && input.status === 'timed_out') {
            await db.execute(
              raw`update deletion_consents set decision = ${decision}, decided_at = now(), token_used_at = now()
                  where request_id = ${input.requestId} and decision = 'pending'`,
            );
          }
          return finish(input as never);
        },
      },
    });
  };
  const worker = await createWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps: { db, mailer, gateway, publicBaseUrl: 'http://ks.test', supportEmail: 'support@ks.test' },
  });
  const running = worker.run();
  const notifications = createNotificationRelay({ db, temporal: env.client, taskQueue });
  const app = createApp({
    db,
    temporal: env.client,
    mailer,
    gateway,
    notifications,
    env: {
      KS_MODE: 'development',
      PUBLIC_BASE_URL: 'http://ks.test',
      TOKEN_SECRET: 'record-secret-that-is-long-enough-0123456789',
      TEMPORAL_TASK_QUEUE: taskQueue,
    },
    now: () => new Date(),
  });
  const call = (method: string, path: string, init: { token?: string; body?: string; form?: boolean }) =>
    app.request(path, {
      method,
      headers: {
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        ...(init.body
          ? { 'content-type': init.form ? 'application/x-www-form-urlencoded' : 'application/json' }
          : {}),
      },
      ...(init.body ? { body: init.body } : {}),
    });
  const person = async (platformRole?: 'support') => {
    const email = `${randomUUID()}@example.test`;
    const profile = await insertProfile(db, {
      email,
      name: 'Recorded Person',
      passwordHash: await hashPassword('correct horse battery'),
      emailConfirmedAt: new Date(),
    });
    if (platformRole) await updateProfile(db, profile!.id, { platformRole });
    const res = await call('POST', '/auth/login', {
      body: JSON.stringify({ email, password: 'correct horse battery' }),
    });
    return { id: profile!.id, email, token: ((await res.json()) as { token: string }).token };
  };
  const site = async (ownerId: string) => {
    const [row] = await db
      .insert(sites)
      .values({ name: `Site ${randomUUID().slice(0, 8)}` })
      .returning();
    await db.insert(memberships).values({ siteId: row!.id, profileId: ownerId, role: 'owner' });
    return row!.id;
  };
  const token = async (requestId: string, siteId: string) => {
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      const rows = await db.execute<{ text: string }>(
        raw`select text from sent_emails where idempotency_key = ${`deletion-consent-request:${requestId}:${siteId}`}`,
      );
      const match = rows[0] && /\/consents\/([A-Za-z0-9_-]{43})/.exec(rows[0].text);
      if (match?.[1]) return match[1];
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('no consent email');
  };
  const support = await person('support');

  async function record(
    run: string,
    steer: (requestId: string, siteIds: string[]) => Promise<void>,
    owns = false,
  ) {
    const member = await person();
    const siteIds = [await site((await person()).id), await site((await person()).id)];
    for (const siteId of siteIds)
      await db.insert(memberships).values({ siteId, profileId: member.id, role: 'user' });
    if (owns) await site(member.id);
    const res = await call('POST', '/support/profile-deletions', {
      token: support.token,
      body: JSON.stringify({ email: member.email }),
    });
    const { id } = (await res.json()) as { id: string };
    await steer(id, siteIds);
    const handle = env.client.workflow.getHandle(profileDeletionWorkflowId(id));
    const end = await handle.result();
    const history = await handle.fetchHistory();
    const file = `profile-deletion-${label}-${run}.binpb`;
    await writeFile(
      new URL(file, import.meta.url),
      protos.temporal.api.history.v1.History.encode(history).finish(),
    );
    console.log(`${file}: ${history.events?.length} events, ${JSON.stringify(end)}`);
  }
  const answer = async (requestId: string, siteId: string, decision: 'approve' | 'deny') => {
    const res = await call('POST', `/consents/${await token(requestId, siteId)}`, {
      body: `decision=${decision}`,
      form: true,
    });
    if (res.status !== 200) throw new Error(`consent answered ${res.status}`);
  };

  await record('approved', async (id, [a, b]) => {
    await answer(id, a!, 'approve');
    await answer(id, b!, 'approve');
  });
  await record('denied', async (id, [a, b]) => {
    await answer(id, a!, 'approve');
    await answer(id, b!, 'deny');
  });
  await record('timed-out', async (id, [a, b]) => {
    await token(id, a!);
    await token(id, b!);
  });
  await record('canceled', async (id, [a]) => {
    await answer(id, a!, 'approve');
    const res = await call('POST', `/support/profile-deletions/${id}/cancel`, { token: support.token });
    if (res.status !== 200) throw new Error(`cancel answered ${res.status}`);
  });
  await record('blocked-owner', async () => {}, true);
  await record('denied-at-deadline', async (id, [a, b]) => {
    atDeadline.set(id, 'denied');
    await token(id, a!);
    await token(id, b!);
  });
  await record('approved-at-deadline', async (id, [a, b]) => {
    atDeadline.set(id, 'approved');
    await answer(id, a!, 'approve');
    await token(id, b!);
  });

  await notifications.stop();
  worker.shutdown();
  await running;
  await gateway.close();
  await database.close();
} finally {
  await env.teardown();
  await pg.stop();
  await rm(workDir, { recursive: true, force: true });
}
