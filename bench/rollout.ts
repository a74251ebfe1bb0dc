/**
 * bench/rollout: a firmware rollout over N simulated IQs speaking the real protocol over TCP to a
 * device gateway in its own process (so its RSS is its own), with a real worker, PostgreSQL and the
 * Temporal dev server (or with `--server cluster` the cluster of `start:cluster`). Prints the time to
 * complete against the policy's own minimum (`idealDurationMs`: every update taking exactly updateMs
 * and nothing else costing time; for these policies, waves × update duration), the longest workflow
 * history (parent and every wave), the gateway's RSS and the update commands per second; the last
 * line is `RESULT rollout ratio=<x> maxHistory=<n> gatewayRssMB=<n>`.
 * Run: npx tsx bench/rollout.ts [iqs=10000] [maxConcurrent=500] [updateMs=2000] [--server dev|cluster]
 */
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { sql as raw } from 'drizzle-orm';
import { defaultDatabasePoolSize } from '../config/env';
import { applyMigrations, connectDatabase } from '../db/client';
import { insertRelease, insertRollout } from '../db/queries/rollouts';
import { iqs, sites } from '../db/schema';
import { DEFAULT_POLICY, idealDurationMs, type RolloutPolicy, waveSizes } from '../domain/rollout';
import { hashDeviceSecret } from '../domain/secrets';
import { createMailer } from '../emails/mailer';
import { createGatewayClient } from '../gateway/client';
import { startGateway } from '../gateway/server';
import { ensureDatabase } from '../infra/create-database';
import { type Fleet, startFleet } from '../iq-sim/fleet';
import type { IqCredentials } from '../iq-sim/iq';
import { createWorker } from '../worker/create-worker';
import { startRollout } from '../workflows/client/rollout';
import { rolloutWorkflowId } from '../workflows/ids';
import type { RolloutProgress } from '../workflows/rollout/messages';
import { rates, startSampler, windowProfile } from './rollout-profile';
import { type BenchServer, benchOptions, startBenchInfrastructure } from './temporal-server';

const HEARTBEAT_SECONDS = 30;

// The gateway's own process: started by the bench with the database URL, reports its RSS on request.
if (process.argv[2] === '--gateway') {
  const database = connectDatabase(process.argv[3]!, { max: defaultDatabasePoolSize() });
  const gateway = await startGateway({
    db: database.db,
    sql: database.sql,
    ports: [0],
    instanceId: 'bench-gw',
    heartbeatSeconds: HEARTBEAT_SECONDS,
    host: '127.0.0.1',
    // Every simulated IQ connects from 127.0.0.1.
    guard: { maxConnectionsPerAddress: 50_000, maxFailedHellos: 50_000 },
  });
  process.on('message', async (message: string) => {
    if (message === 'rss') process.send?.({ rss: process.memoryUsage().rss });
    if (message === 'stop') {
      await gateway.stop();
      await database.close();
      process.exit(0);
    }
  });
  process.send?.({ port: gateway.ports[0] });
} else if (process.argv[2] === '--fleet') {
  // The simulated IQs' own process: the devices are the load, not part of the system measured.
  const [port, updateMs, file] = process.argv.slice(3);
  const credentials = JSON.parse(await readFile(file!, 'utf8')) as IqCredentials[];
  const fleets: Fleet[] = [];
  for (let i = 0; i < credentials.length; i += 500) {
    fleets.push(
      await startFleet({
        credentials: credentials.slice(i, i + 500),
        ports: [Number(port)],
        host: '127.0.0.1',
        update: { durationMs: Number(updateMs) },
      }),
    );
  }
  process.on('message', async (message: string) => {
    if (message === 'stop') {
      await Promise.all(fleets.map((f) => f.stop()));
      process.exit(0);
    }
  });
  process.send?.({ failed: fleets.reduce((n, f) => n + f.failed.length, 0) });
} else {
  const { server, args } = benchOptions();
  const result = await bench(
    Number(args[0] ?? 10_000),
    Number(args[1] ?? 500),
    Number(args[2] ?? 2_000),
    server,
  );
  // Last, once everything stopped, so runs compare line by line.
  console.log(result);
}

async function bench(
  total: number,
  maxConcurrent: number,
  updateMs: number,
  server: BenchServer,
): Promise<string> {
  const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
  Runtime.install({ logger: quiet as never });
  const workDir = await mkdtemp(join(tmpdir(), 'ks-bench-rollout-'));
  await chmod(workDir, 0o755);
  const infra = await startBenchInfrastructure(server, workDir);
  try {
    const url = await ensureDatabase(infra.postgresUrl, 'bench');
    await applyMigrations(url);
    const database = connectDatabase(url, { max: defaultDatabasePoolSize() });
    const { db } = database;

    const child = fork(fileURLToPath(import.meta.url), ['--gateway', url], { execArgv: ['--import', 'tsx'] });
    const ask = <T>(message: string, key: string, from = child) =>
      new Promise<T>((resolve) => {
        const on = (m: Record<string, T>) => {
          if (key in m) {
            from.off('message', on);
            resolve(m[key]!);
          }
        };
        from.on('message', on);
        if (message) from.send(message);
      });
    const port = await ask<number>('', 'port');

    // N IQs over sites of 100, written straight to the database (registration is not what is measured).
    console.log(`seeding ${total} IQs…`);
    const credentials: IqCredentials[] = [];
    for (let done = 0; done < total; done += 100) {
      const [site] = await db.insert(sites).values({ name: 'Bench' }).returning();
      const batch = Array.from({ length: Math.min(100, total - done) }, () => ({
        serial: `B-${randomUUID()}`,
        secret: randomBytes(24).toString('base64url'),
      }));
      await db.insert(iqs).values(
        batch.map((b) => ({
          siteId: site!.id,
          serial: b.serial,
          model: 'IQ2',
          secretHash: hashDeviceSecret(b.secret),
          subscribed: true,
        })),
      );
      for (const b of batch) credentials.push({ ...b, model: 'IQ2', firmware: '1.0.0' });
    }
    console.log('connecting the fleet…');
    const credentialsFile = join(workDir, 'fleet.json');
    await writeFile(credentialsFile, JSON.stringify(credentials));
    const fleet = fork(
      fileURLToPath(import.meta.url),
      ['--fleet', String(port), String(updateMs), credentialsFile],
      {
        execArgv: ['--import', 'tsx'],
      },
    );
    const failedToConnect = await ask<number>('', 'failed', fleet);
    const rssConnected = await ask<number>('rss', 'rss');

    const connection = await Connection.connect({ address: infra.temporalAddress });
    const temporal = new Client({ connection });
    const native = await NativeConnection.connect({ address: infra.temporalAddress });
    const gatewayClient = createGatewayClient({ db, sql: database.sql });
    const worker = await createWorker({
      connection: native,
      namespace: 'default',
      taskQueue: 'bench',
      deps: {
        db,
        mailer: createMailer({ db, from: 'bench@ks.test' }),
        gateway: gatewayClient,
        publicBaseUrl: 'http://bench.test',
        supportEmail: 'support@bench.test',
      },
    });
    const running = worker.run();

    const policy: RolloutPolicy = { ...DEFAULT_POLICY, maxConcurrent, inProgressTimeoutSeconds: 120 };
    const release = await insertRelease(db, {
      model: 'IQ2',
      version: '2.0.0',
      url: 'ftps://files.bench.test/iq2-2.0.0.bin',
      sha256: 'b'.repeat(64),
      sizeBytes: 1_000_000,
    });
    const rollout = await insertRollout(db, { releaseId: release!.id, target: { model: 'IQ2' }, policy });
    let peakRss = rssConnected;
    const rssSampler = setInterval(async () => {
      peakRss = Math.max(peakRss, await ask<number>('rss', 'rss'));
    }, 1_000);
    const t0 = performance.now();
    const startedAt = new Date();
    const sampler = startSampler({
      db,
      t0,
      temporalProcesses: infra.temporalProcesses,
      postgresProcesses: infra.postgresProcesses,
      pids: { gateway: child.pid, simulator: fleet.pid },
    });
    await startRollout(temporal, 'bench', rollout.id);
    const handle = temporal.workflow.getHandle(rolloutWorkflowId(rollout.id));
    const end = (await handle.result()) as RolloutProgress;
    const wallMs = performance.now() - t0;
    clearInterval(rssSampler);
    const load = rates(await sampler.stop());
    const window = await windowProfile(db, rollout.id, startedAt, wallMs, policy, updateMs);

    const waves = waveSizes(end.planned, policy).length;
    const minimumMs = idealDurationMs(end.planned, policy, updateMs);
    const histories = [
      { id: rolloutWorkflowId(rollout.id), events: (await handle.fetchHistory()).events?.length ?? 0 },
    ];
    for (let w = 0; w < end.wave; w++) {
      const id = `${rolloutWorkflowId(rollout.id)}-wave-${w}`;
      histories.push({
        id,
        events: (await temporal.workflow.getHandle(id).fetchHistory()).events?.length ?? 0,
      });
    }
    const longest = histories.reduce((a, b) => (b.events > a.events ? b : a));
    const [sent] = await db.execute<{ commands: number; peak: number }>(raw`
      select (select coalesce(sum(attempts), 0)::int from rollout_targets where rollout_id = ${rollout.id}) as commands,
        (select coalesce(max(n), 0)::int from (select count(*) as n from rollout_targets
          where rollout_id = ${rollout.id} and started_at is not null
          group by date_trunc('second', started_at)) s) as peak`);

    console.log(
      'second  admitted  inFlight  window  done   tx/s  cpu (cores): ' +
        Object.keys(load.cpuSecondsTotal).join(' '),
    );
    for (const w of window.perSecond) {
      const l = load.perSecond.find((r) => r.second === w.second);
      console.log(
        [w.second, w.admitted, w.inFlight, w.window, w.done, l?.tps ?? '']
          .map((v, i) => String(v).padStart(i === 0 ? 6 : 8))
          .join('') +
          (l
            ? `   ${Object.values(l.cpu)
                .map((c) => c.toFixed(2))
                .join(' ')}`
            : ''),
      );
    }
    console.log(
      JSON.stringify(
        {
          temporal: infra.description,
          iqs: total,
          failedToConnect,
          policy: { canarySize: policy.canarySize, growthFactor: policy.growthFactor, maxConcurrent },
          updateMs,
          status: end.status,
          counts: end.counts,
          waves,
          completeSeconds: +(wallMs / 1000).toFixed(1),
          policyMinimumSeconds: +(minimumMs / 1000).toFixed(1),
          overMinimum: +(wallMs / minimumMs).toFixed(2),
          longestHistory: longest,
          workflows: histories.length,
          gatewayRssMb: {
            connected: +(rssConnected / 2 ** 20).toFixed(0),
            peak: +(peakRss / 2 ** 20).toFixed(0),
          },
          window: window.summary,
          cpuSeconds: load.cpuSecondsTotal,
          transactionsPerSecond: load.transactionsPerSecond,
          commands: sent?.commands,
          commandsPerSecond: {
            average: +((sent?.commands ?? 0) / (wallMs / 1000)).toFixed(1),
            peak: sent?.peak,
          },
        },
        null,
        2,
      ),
    );

    worker.shutdown();
    await running;
    fleet.send('stop');
    await new Promise((r) => fleet.once('exit', r));
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
    await gatewayClient.close();
    await connection.close();
    await native.close();
    await database.close();
    return `RESULT rollout ratio=${(wallMs / minimumMs).toFixed(2)} maxHistory=${longest.events} gatewayRssMB=${(peakRss / 2 ** 20).toFixed(0)}`;
  } finally {
    await infra.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}
