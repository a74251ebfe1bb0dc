/**
 * bench/redemption: 32 concurrent clients redeem distinct vouchers on distinct sites through HTTP
 * (API → update-with-start → worker → PostgreSQL) against the Temporal dev server. In the same run a
 * bare no-op update-with-start on the same server gives the floor; the ratio says what the product
 * adds. Run: npx tsx bench/redemption.ts [redemptions] [clients]
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { noopGatewayClient } from '../activities/gateway-client';
import { createApp } from '../api/app';
import { issueBearerToken } from '../api/auth/tokens';
import { applyMigrations, connectDatabase } from '../db/client';
import { issueVouchers } from '../db/queries/vouchers';
import { memberships, profiles, sites } from '../db/schema';
import { createMailer } from '../emails/mailer';
import { ensureDatabase } from '../infra/create-database';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { freePort } from '../infra/free-port';
import { startDevServer } from '../infra/temporal-servers';
import { createWorker } from '../worker/create-worker';
import { runConcurrent, summarize } from './stats';

const total = Number(process.argv[2] ?? 512);
const clients = Number(process.argv[3] ?? 32);
const secret = 'bench-secret-bench-secret-bench-secret';
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };

Runtime.install({ logger: quiet as never });

const workDir = await mkdtemp(join(tmpdir(), 'ks-bench-redemption-'));
await chmod(workDir, 0o755);
const [pg, temporalServer] = await Promise.all([
  startEmbeddedPostgres({ dataDir: join(workDir, 'pg') }),
  startDevServer({ headless: true }),
]);
try {
  const url = await ensureDatabase(pg.url, 'bench');
  await applyMigrations(url);
  const database = connectDatabase(url, { max: 40 });
  const connection = await Connection.connect({ address: temporalServer.address });
  const temporal = new Client({ connection });
  const native = await NativeConnection.connect({ address: temporalServer.address });
  const mailer = createMailer({ db: database.db, from: 'bench@ks.test' });
  const worker = await createWorker({
    connection: native,
    namespace: 'default',
    taskQueue: 'bench',
    deps: {
      db: database.db,
      mailer,
      gateway: noopGatewayClient,
      publicBaseUrl: 'http://bench.test',
      supportEmail: 'support@bench.test',
    },
  });
  const noopWorker = await Worker.create({
    connection: native,
    taskQueue: 'bench-noop',
    workflowsPath: fileURLToPath(new URL('./noop-workflow.ts', import.meta.url)),
  });
  const app = createApp({
    db: database.db,
    temporal,
    mailer,
    gateway: noopGatewayClient,
    env: {
      KS_MODE: 'production',
      PUBLIC_BASE_URL: 'http://bench',
      TOKEN_SECRET: secret,
      TEMPORAL_TASK_QUEUE: 'bench',
    },
    now: () => new Date(),
  });
  const port = await freePort();
  const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });

  const runs = Promise.all([worker.run(), noopWorker.run()]);
  await Promise.race([
    runs.then(() => {
      throw new Error('a worker stopped before the benchmark finished');
    }),
    (async () => {
      // One owner and one site per redemption, one voucher each.
      const owners = await database.db
        .insert(profiles)
        .values(
          Array.from({ length: total }, (_, i) => ({
            email: `owner${i}@bench.test`,
            name: `Owner ${i}`,
            passwordHash: 'x',
            emailConfirmedAt: new Date(),
          })),
        )
        .returning({ id: profiles.id });
      const siteRows = await database.db
        .insert(sites)
        .values(owners.map((_, i) => ({ name: `Bench ${i}` })))
        .returning({ id: sites.id });
      await database.db
        .insert(memberships)
        .values(siteRows.map((s, i) => ({ siteId: s.id, profileId: owners[i]!.id, role: 'owner' as const })));
      const codes = await issueVouchers(
        database.db,
        { usersLimit: 10, iqsLimit: 2, durationDays: 365 },
        total,
      );
      const tokens = await Promise.all(owners.map((o) => issueBearerToken(o.id, secret, new Date())));

      // Warm-up: first workflow task and bundle caches.
      await temporal.workflow.executeUpdateWithStart('noop', {
        args: ['warm'],
        startWorkflowOperation: new WithStartWorkflowOperation('noopWorkflow', {
          workflowId: `noop-warm-${randomUUID()}`,
          taskQueue: 'bench-noop',
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      });

      let failures = 0;
      const product = await runConcurrent(total, clients, async (i) => {
        const res = await fetch(
          `http://127.0.0.1:${port}/sites/${siteRows[i]!.id}/subscription/redemptions`,
          {
            method: 'POST',
            headers: { authorization: `Bearer ${tokens[i]}`, 'content-type': 'application/json' },
            body: JSON.stringify({ code: codes[i]!.code }),
          },
        );
        if (res.status !== 200) failures++;
        await res.arrayBuffer();
      });
      const floor = await runConcurrent(total, clients, async () => {
        await temporal.workflow.executeUpdateWithStart('noop', {
          args: ['x'],
          startWorkflowOperation: new WithStartWorkflowOperation('noopWorkflow', {
            workflowId: `noop-${randomUUID()}`,
            taskQueue: 'bench-noop',
            workflowIdConflictPolicy: 'USE_EXISTING',
          }),
        });
      });
      const a = summarize(product.latencies, product.wallMs);
      const b = summarize(floor.latencies, floor.wallMs);
      console.log(`bench/redemption: ${total} redemptions, ${clients} concurrent clients, dev server`);
      console.log(
        `  redemption over HTTP:    ${a.perSecond.toFixed(1)}/s  p50 ${a.p50.toFixed(0)} ms  p99 ${a.p99.toFixed(0)} ms  non-200: ${failures}`,
      );
      console.log(
        `  no-op update-with-start: ${b.perSecond.toFixed(1)}/s  p50 ${b.p50.toFixed(0)} ms  p99 ${b.p99.toFixed(0)} ms`,
      );
      console.log(`  ratio (redemption / floor throughput): ${(a.perSecond / b.perSecond).toFixed(2)}`);
    })(),
  ]);
  worker.shutdown();
  noopWorker.shutdown();
  await runs;
  server.close();
  await connection.close();
  await database.close();
} finally {
  await temporalServer.stop();
  await pg.stop();
  await rm(workDir, { recursive: true, force: true });
}
