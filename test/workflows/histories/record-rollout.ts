/**
 * Records rollout histories with the workflow code of this checkout, for the replay tests of the code
 * that comes after it (test/workflows/rollout-replay.test.ts). Run it before changing
 * workflows/rollout/, on the code before the change:
 *
 *   npx tsx test/workflows/histories/record-rollout.ts <label> [run…]
 *
 * Five runs over 12 simulated IQs on real TCP (a dev server, PostgreSQL, a gateway and a worker in
 * this process): paused in its first wave then resumed (`pause-resume`); aborted in its first wave
 * (`abort`); continued as new after every wave (`continue-as-new`); waiting for a maintenance window
 * that opens one to two minutes later, UTC (`window`); paused and resumed six times through the
 * `control` update while its canary waits for an offline IQ, with a history limit of 40 events
 * (`pause-cycles`). Naming runs records only those. Each workflow of a run (the rollout and, where it
 * has them, its waves) is written as `rollout-<label>-<run>[-<workflow>].binpb` (binary protobuf: see
 * subscription-replay.test.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import protos from '@temporalio/proto';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { eq, sql as raw } from 'drizzle-orm';
import { applyMigrations, connectDatabase } from '../../../db/client';
import { insertRelease, insertRollout } from '../../../db/queries/rollouts';
import { rollouts } from '../../../db/schema';
import { DEFAULT_POLICY, type RolloutPolicy } from '../../../domain/rollout';
import { createMailer } from '../../../emails/mailer';
import { createGatewayClient } from '../../../gateway/client';
import { startGateway } from '../../../gateway/server';
import { ensureDatabase } from '../../../infra/create-database';
import { startEmbeddedPostgres } from '../../../infra/embedded-postgres';
import { startDevServer } from '../../../infra/temporal-servers';
import { startFleet } from '../../../iq-sim/fleet';
import { createWorker } from '../../../worker/create-worker';
import { rolloutWorkflowId } from '../../../workflows/ids';
import { abortSignal, controlUpdate, pauseSignal, resumeSignal } from '../../../workflows/rollout/messages';
import { rolloutWorkflow } from '../../../workflows/rollout/workflow';
import { LOOPBACK_FLEET_GUARD, seedSiteWithIqs } from '../../gateway/helpers';

const label = process.argv[2];
if (!label || !/^[a-z0-9-]+$/.test(label)) {
  console.error(
    'usage: npx tsx test/workflows/histories/record-rollout.ts <label, e.g. status-side-writer> [run…]',
  );
  process.exit(2);
}
const chosen = process.argv.slice(3);
const recording = (run: string) => chosen.length === 0 || chosen.includes(run);

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
Runtime.install({ logger: quiet as never });
const workDir = await mkdtemp(join(tmpdir(), 'ks-record-'));
await chmod(workDir, 0o755);
const [pg, server] = await Promise.all([
  startEmbeddedPostgres({ dataDir: join(workDir, 'pg') }),
  startDevServer({ headless: true }),
]);
const until = async (check: () => Promise<boolean>, what: string) => {
  for (const deadline = Date.now() + 30_000; !(await check()); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

try {
  const url = await ensureDatabase(pg.url, 'record');
  await applyMigrations(url);
  const database = connectDatabase(url);
  const { db } = database;
  const gateway = await startGateway({
    db,
    sql: database.sql,
    ports: [0],
    instanceId: 'record-gw',
    heartbeatSeconds: 1,
    host: '127.0.0.1',
    guard: LOOPBACK_FLEET_GUARD,
  });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const native = await NativeConnection.connect({ address: server.address });
  const gatewayClient = createGatewayClient({ db, sql: database.sql });
  const worker = await createWorker({
    connection: native,
    namespace: 'default',
    taskQueue: 'record',
    deps: {
      db,
      mailer: createMailer({ db, from: 'record@ks.test' }),
      gateway: gatewayClient,
      publicBaseUrl: 'http://ks.test',
      supportEmail: 'support@ks.test',
    },
  });
  const running = worker.run();

  const policy: RolloutPolicy = {
    ...DEFAULT_POLICY,
    inProgressTimeoutSeconds: 20,
    retries: 0,
    offlineDeadlineSeconds: 60,
  };
  const succeeded = async (rolloutId: string) => {
    const [row] = await db.execute<{ n: number }>(
      raw`select count(*)::int as n from rollout_targets where rollout_id = ${rolloutId} and state = 'succeeded'`,
    );
    return row?.n ?? 0;
  };
  const status = async (rolloutId: string) =>
    (await db.select({ status: rollouts.status }).from(rollouts).where(eq(rollouts.id, rolloutId)))[0]
      ?.status;

  /** One rollout over 12 fresh IQs; `steer` acts on it while it runs; every history is saved. */
  async function record(
    run: string,
    steer: (handle: ReturnType<Client['workflow']['getHandle']>, rolloutId: string) => Promise<void>,
    maxHistoryEvents?: number,
    window?: { start: string; end: string },
    options: { offlineFirst?: boolean; offlineDeadlineSeconds?: number } = {},
  ) {
    if (!recording(run)) return;
    const site = await seedSiteWithIqs(db, 12, { name: `Record ${run}` });
    // Positions follow the IQs' ids: the first by id is the canary's first IQ.
    const first = [...site.iqs].sort((a, b) => (a.id < b.id ? -1 : 1))[0]!;
    const fleet = await startFleet({
      credentials: site.iqs.filter((iq) => !options.offlineFirst || iq !== first).map((iq) => iq.credentials),
      ports: gateway.ports,
      host: '127.0.0.1',
      update: { durationMs: 400 },
    });
    const version = `9.${randomUUID().slice(0, 8)}`;
    const release = await insertRelease(db, {
      model: 'IQ2',
      version,
      url: `ftps://files.ks.test/iq2-${version}.bin`,
      sha256: createHash('sha256').update(version).digest('hex'),
      sizeBytes: 1024,
    });
    const rollout = await insertRollout(db, {
      releaseId: release!.id,
      target: { siteIds: [site.siteId] },
      policy: {
        ...policy,
        ...(window ? { maintenanceWindow: window } : {}),
        ...(options.offlineDeadlineSeconds ? { offlineDeadlineSeconds: options.offlineDeadlineSeconds } : {}),
      },
    });
    const workflowId = rolloutWorkflowId(rollout.id);
    const started = await client.workflow.start(rolloutWorkflow, {
      workflowId,
      taskQueue: 'record',
      args: [{ rolloutId: rollout.id, ...(maxHistoryEvents ? { maxHistoryEvents } : {}) }],
    });
    await steer(client.workflow.getHandle(workflowId), rollout.id);
    const end = await client.workflow.getHandle(workflowId).result();
    const save = async (id: string, runId: string | undefined, suffix: string) => {
      const history = await client.workflow.getHandle(id, runId).fetchHistory();
      const file = `rollout-${label}-${run}${suffix}.binpb`;
      await writeFile(
        new URL(file, import.meta.url),
        protos.temporal.api.history.v1.History.encode(history).finish(),
      );
      console.log(`${file}: ${history.events?.length} events`);
    };
    await save(workflowId, started.firstExecutionRunId, '');
    for (let wave = 0; ; wave++) {
      const id = `${workflowId}-wave-${wave}`;
      try {
        await client.workflow.getHandle(id).describe();
      } catch {
        break;
      }
      await save(id, undefined, `-wave-${wave}`);
    }
    console.log(`${run}: ${JSON.stringify(end)}`);
    await fleet.stop();
  }

  await record('pause-resume', async (handle, id) => {
    await until(async () => (await succeeded(id)) >= 1, 'a first success');
    await handle.signal(pauseSignal);
    await until(async () => (await status(id)) === 'paused', 'the pause');
    await new Promise((r) => setTimeout(r, 1_500));
    await handle.signal(resumeSignal);
  });
  await record('abort', async (handle, id) => {
    await until(async () => (await succeeded(id)) >= 1, 'a first success');
    await handle.signal(abortSignal);
  });
  await record('continue-as-new', async () => {}, 10);
  // A window opening at the second minute boundary from now (UTC, the seeded site's zone).
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
  const opens = Date.now() + 120_000;
  await record('window', async () => {}, undefined, { start: hhmm(opens), end: hhmm(opens + 600_000) });
  await record(
    'pause-cycles',
    async (handle, id) => {
      await until(async () => (await succeeded(id)) >= 4, 'the canary’s online IQs');
      for (let cycle = 0; cycle < 6; cycle++) {
        await handle.executeUpdate(controlUpdate, { args: ['pause'] });
        await handle.executeUpdate(controlUpdate, { args: ['resume'] });
      }
    },
    40,
    undefined,
    { offlineFirst: true, offlineDeadlineSeconds: 20 },
  );

  worker.shutdown();
  await running;
  await gateway.stop();
  await gatewayClient.close();
  await connection.close();
  await native.close();
  await database.close();
} finally {
  await server.stop();
  await pg.stop();
  await rm(workDir, { recursive: true, force: true });
}
