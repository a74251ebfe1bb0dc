/**
 * bench/remote-open (issue 15): remote openings, HTTP → API → gateway → IQ → answer, against a floor
 * of HTTP plus one TCP hop to the same simulated IQ, with `iqs` simulated IQs online.
 *
 * Processes: this one runs the product (PostgreSQL, the Temporal dev server, a worker and the HTTP
 * API with the real gateway client: an open goes to the command endpoint of the gateway instance
 * holding the IQ, over the one connection this API keeps to it); the device gateway runs in a process
 * of its own (gateway/server.ts, the real one) beside the floor's bare Hono route; the simulated IQs
 * (iq-sim, the real device protocol over TCP) in a third; the load in processes of their own.
 *
 *   product: `POST /sites/:siteId/locks/:lockId/open` with each client's bearer token: real
 *            authentication, site access, the K4 checks (subscription, membership, a remote access
 *            method, the IQ subscribed and online), the command to the gateway holding the IQ, the IQ's
 *            answer, the event recorded.
 *   floor:   `POST /open/:iqId/:lockId` on a bare Hono route in the gateway's process, which sends the
 *            one framed `open` message on the IQ's connection and answers with its `open-result`.
 *
 * Both phases open the same locks with the same number of clients for the same time, in turns of
 * about 2 s; each client is a member of one site holding a remote access method, and opens that site's
 * locks in turn. Printed per phase with its CPU per open by process (the parts' CPU over that phase's
 * turns; the load generators' by themselves) and how busy each load generator's event loop was.
 *
 * The clients are dealt among `--loaders` load processes, one per core by default, which start each
 * turn together: a generator whose event loop is saturated measures its own queue as latency. One
 * process for 32 clients was busy 94 % of the floor's turns, and the floor's latencies fell in two modes
 * with its p50 moving between them from run to run; with one per core, each about 65–70 %, one mode.
 *
 * `clients` may list several counts (`1,2,4,8,16,32`): each is measured in turn on the same stack,
 * fleet and warm-up, and a table of the ratios by count follows: where the ratio stands as the load
 * grows (once the machine is saturated, a closed loop's mean latency is its clients over its throughput).
 *
 * Run: npx tsx bench/remote-open.ts [iqs=1000] [clients=32] [seconds=10] [--server dev|cluster] [--loaders N]
 * Last line: RESULT remote-open p50ratio=<product p50 / floor p50> p99ratio=<…p99…> iqs=<IQs online>
 * (with several counts, the last one's figures)
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { issueBearerToken } from '../api/auth/tokens';
import { defaultDatabasePoolSize } from '../config/env';
import { connectDatabase } from '../db/client';
import { accessMethods, memberships, profiles, sites } from '../db/schema';
import { createGatewayClient } from '../gateway/client';
import { startGateway } from '../gateway/server';
import { freePort } from '../infra/free-port';
import { type Fleet, startFleet } from '../iq-sim/fleet';
import type { IqCredentials } from '../iq-sim/iq';
import { cpuSeconds } from './cpu';
import { startLocalStack } from './local-stack';
import { seedIqsWithLocks } from './seed-iqs';
import { type Driven, mergeShares, type summarize, turns } from './stats';
import { type BenchServer, benchOptions, takeOption } from './temporal-server';

const SITE_SIZE = 100;
const HEARTBEAT_SECONDS = 30;

/** What one load process measured of a phase, with its CPU seconds. */
type Loaded = Driven & { loadCpu: number };

interface LoadJob {
  apiUrl: string;
  floorUrl: string;
  /** The phases in the order they run, each for sliceSeconds. */
  slices: Array<'product' | 'floor'>;
  sliceSeconds: number;
  /** One per client: its token, its site and the locks (with their IQs) it opens in turn. */
  clients: Array<{ token: string; siteId: string; targets: Array<{ lockId: string; iqId: string }> }>;
}

/** The real gateway, and the floor's bare route beside it on the same connections. */
async function gatewayProcess(url: string, port: number) {
  const database = connectDatabase(url, { max: defaultDatabasePoolSize() });
  const gateway = await startGateway({
    db: database.db,
    sql: database.sql,
    ports: [port],
    instanceId: `bench-gw-${randomBytes(3).toString('hex')}`,
    heartbeatSeconds: HEARTBEAT_SECONDS,
    host: '127.0.0.1',
    // Every simulated IQ connects from 127.0.0.1.
    guard: { maxConnectionsPerAddress: 100_000, maxFailedHellos: 100_000 },
  });
  const floor = new Hono();
  floor.post('/open/:iqId/:lockId', async (c) => {
    const answer = await gateway.openLock({ iqId: c.req.param('iqId'), lockId: c.req.param('lockId') });
    return answer.outcome === 'opened' ? c.json({ result: 'opened' }) : c.json(answer, 409);
  });
  const floorPort = await freePort();
  const floorServer = serve({ fetch: floor.fetch, port: floorPort, hostname: '127.0.0.1' });
  process.on('message', async (message: string) => {
    if (message === 'stop') {
      floorServer.close();
      await gateway.stop();
      await database.close();
      process.exit(0);
    }
  });
  process.send?.({ ready: { instanceId: gateway.instanceId, floorUrl: `http://127.0.0.1:${floorPort}` } });
}

/** The simulated IQs, in a process apart from everything they are measured against. */
async function fleetProcess(credentialsFile: string, port: number) {
  const credentials = JSON.parse(await readFile(credentialsFile, 'utf8')) as IqCredentials[];
  const fleets: Fleet[] = [];
  for (let i = 0; i < credentials.length; i += 500) {
    fleets.push(
      await startFleet({
        credentials: credentials.slice(i, i + 500),
        ports: [port],
        host: '127.0.0.1',
        connectTimeoutMs: 120_000,
      }),
    );
  }
  process.on('message', async (message: string) => {
    if (message === 'stop') {
      await Promise.all(fleets.map((f) => f.stop()));
      process.exit(0);
    }
  });
  process.send?.({
    connected: fleets.reduce((n, f) => n + f.online.length, 0),
    failed: fleets.reduce((n, f) => n + f.failed.length, 0),
  });
}

type Phase = 'product' | 'floor';

/**
 * The load generator: keep-alive fetch loops, one per client, through the job's slices in turn, each
 * slice one phase for `sliceSeconds`. At each slice's start and at the end it tells the parent (which
 * reads the other processes' CPU then) and waits for its go; its own CPU it counts per phase itself.
 */
async function loadProcess(jobFile: string) {
  const job = JSON.parse(await readFile(jobFile, 'utf8')) as LoadJob;
  const latencies: Record<Phase, number[]> = { product: [], floor: [] };
  const failed: Record<Phase, Record<string, number>> = { product: {}, floor: {} };
  const wallMs: Record<Phase, number> = { product: 0, floor: 0 };
  const cpu: Record<Phase, number> = { product: 0, floor: 0 };
  /** Time this process's event loop spent busy (a saturated generator measures its own queue). */
  const busyMs: Record<Phase, number> = { product: 0, floor: 0 };
  const goes: Array<() => void> = [];
  process.on('message', (message: string) => {
    if (message === 'go') goes.shift()?.();
  });
  const mark = (at: Phase | 'end') =>
    new Promise<void>((resolve) => {
      goes.push(resolve);
      process.send?.({ mark: at });
    });
  for (const phase of job.slices) {
    await mark(phase);
    const cpuBefore = process.cpuUsage();
    const eluBefore = performance.eventLoopUtilization();
    const started = performance.now();
    const deadline = started + job.sliceSeconds * 1000;
    await Promise.all(
      job.clients.map(async (client, c) => {
        for (let n = c; performance.now() < deadline; n++) {
          const target = client.targets[n % client.targets.length]!;
          const t0 = performance.now();
          try {
            const res =
              phase === 'product'
                ? await fetch(`${job.apiUrl}/sites/${client.siteId}/locks/${target.lockId}/open`, {
                    method: 'POST',
                    headers: { authorization: `Bearer ${client.token}` },
                  })
                : await fetch(`${job.floorUrl}/open/${target.iqId}/${target.lockId}`, { method: 'POST' });
            const body = (await res.json()) as { result?: string; code?: string; outcome?: string };
            latencies[phase].push(performance.now() - t0);
            if (res.status !== 200 || body.result !== 'opened') {
              const key = `${res.status} ${body.code ?? body.outcome ?? ''}`.trim();
              failed[phase][key] = (failed[phase][key] ?? 0) + 1;
            }
          } catch (error) {
            const key = `network: ${(error as Error).message}`;
            failed[phase][key] = (failed[phase][key] ?? 0) + 1;
          }
        }
      }),
    );
    wallMs[phase] += performance.now() - started;
    const { user, system } = process.cpuUsage(cpuBefore);
    cpu[phase] += (user + system) / 1e6;
    const elu = performance.eventLoopUtilization(eluBefore);
    busyMs[phase] += elu.active;
  }
  await mark('end');
  const loaded = (phase: Phase): Loaded => ({
    latencies: latencies[phase],
    wallMs: wallMs[phase],
    busyMs: busyMs[phase],
    failed: failed[phase],
    loadCpu: cpu[phase],
  });
  const result: Record<Phase, Loaded> = { product: loaded('product'), floor: loaded('floor') };
  // Keep-alive sockets would hold the process open: it ends once the parent has the figures.
  process.send?.({ result }, () => process.exit(0));
}

class Child {
  private readonly waiting = new Set<(m: Record<string, unknown>) => void>();
  constructor(readonly process: ChildProcess) {
    process.on('message', (m: Record<string, unknown>) => {
      for (const w of this.waiting) w(m);
    });
  }
  next<T>(key: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const w = (m: Record<string, unknown>) => {
        if (key in m) {
          this.waiting.delete(w);
          this.process.off('exit', onExit);
          resolve(m[key] as T);
        }
      };
      const onExit = (code: number | null) => reject(new Error(`child exited with ${code} before "${key}"`));
      this.waiting.add(w);
      this.process.once('exit', onExit);
    });
  }
  async stop() {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise((r) => this.process.once('exit', r));
    this.process.send('stop');
    await exited;
  }
}

const self = fileURLToPath(import.meta.url);
const spawnChild = (args: string[]) => new Child(fork(self, args, { execArgv: ['--import', 'tsx'] }));

async function bench(
  total: number,
  clientCounts: number[],
  seconds: number,
  server: BenchServer,
  loaderCount: number,
) {
  const clientCount = Math.max(...clientCounts);
  // The API's opens go to the gateway process's command endpoint, with the secret the child inherits.
  process.env.GATEWAY_COMMAND_SECRET ??= randomBytes(32).toString('base64url');
  const bus: { client?: ReturnType<typeof createGatewayClient> } = {};
  const stack = await startLocalStack({
    mode: 'production',
    server,
    gateway: (database) => {
      bus.client = createGatewayClient({ db: database.db, sql: database.sql });
      return bus.client;
    },
  });
  const { db } = stack.database;
  // The IQs' secrets and the clients' tokens, for the child processes: readable by this user only.
  const workDir = await mkdtemp(join(tmpdir(), 'ks-bench-remote-open-'));
  const credentialsFile = join(workDir, 'iqs.json');
  const children: Child[] = [];
  try {
    console.log(`[remote-open] on ${stack.temporalServer}; seeding ${total} IQs in sites of ${SITE_SIZE}…`);
    const siteCount = Math.ceil(total / SITE_SIZE);
    const siteRows = await db
      .insert(sites)
      .values(
        Array.from({ length: siteCount }, (_, i) => ({
          name: `Bench ${i}`,
          subscriptionStatus: 'active' as const,
        })),
      )
      .returning({ id: sites.id });
    const credentials: IqCredentials[] = [];
    const targetsOfSite: Array<Array<{ lockId: string; iqId: string }>> = [];
    for (const [s, site] of siteRows.entries()) {
      const count = Math.min(SITE_SIZE, total - s * SITE_SIZE);
      const seeded = await seedIqsWithLocks(db, site.id, count, 'RO');
      targetsOfSite.push(seeded.locks);
      credentials.push(...seeded.credentials);
    }
    // One member per client, each at a site of its own turn, subscribed, with a remote access method.
    const members = await db
      .insert(profiles)
      .values(
        Array.from({ length: clientCount }, (_, i) => ({
          email: `opener${i}@bench.test`,
          name: `Opener ${i}`,
          passwordHash: 'x',
          emailConfirmedAt: new Date(),
        })),
      )
      .returning({ id: profiles.id });
    const siteOf = (i: number) => siteRows[i % siteRows.length]!.id;
    await db.insert(memberships).values(
      members.map((m, i) => ({
        siteId: siteOf(i),
        profileId: m.id,
        role: 'user' as const,
        subscribed: true,
        subscribedAt: new Date(),
      })),
    );
    await db
      .insert(accessMethods)
      .values(members.map((m, i) => ({ siteId: siteOf(i), profileId: m.id, kind: 'remote' as const })));
    const tokens = await Promise.all(members.map((m) => issueBearerToken(db, m.id, new Date())));
    await writeFile(credentialsFile, JSON.stringify(credentials), { mode: 0o600 });

    const port = await freePort();
    const gateway = spawnChild(['--gateway', stack.databaseUrl, String(port)]);
    children.push(gateway);
    const { instanceId, floorUrl } = await gateway.next<{ instanceId: string; floorUrl: string }>('ready');
    console.log('[remote-open] connecting the fleet (its own process)…');
    const fleet = spawnChild(['--fleet', credentialsFile, String(port)]);
    children.push(fleet);
    const connected = await fleet.next<number>('connected');
    // Online in the database too (the API's K4 check reads the row), and every access list sent.
    for (let i = 0; ; i++) {
      const [row] = await stack.database.sql`
        select count(*)::int as n from iqs where online and gateway_instance = ${instanceId}`;
      if (row!.n === total) break;
      if (i > 1200) throw new Error(`only ${row!.n}/${total} IQs online after 2 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`[remote-open] ${connected} IQs online on gateway ${instanceId}`);

    const job: LoadJob = {
      apiUrl: stack.url,
      floorUrl,
      slices: [],
      sliceSeconds: 0,
      clients: members.map((_, i) => ({
        token: tokens[i]!,
        siteId: siteOf(i),
        targets: targetsOfSite[i % siteRows.length]!,
      })),
    };
    // CPU per open of each part (the load moves latencies on a shared machine; this it moves less).
    const parts = {
      gateway: new RegExp(`remote-open\\.ts --gateway \\S+ ${port}\\b`),
      fleet: new RegExp(`remote-open\\.ts --fleet \\S+ ${port}\\b`),
      postgres: stack.postgresProcesses,
    };
    const cpuNow = () => {
      // One reading of this process (the API): its user and system time from the same instant.
      const own = process.cpuUsage();
      return { ...cpuSeconds(parts), api: (own.user + own.system) / 1e6 };
    };
    type Figures = ReturnType<typeof summarize> & {
      failed: Record<string, number>;
      loadCpu: number;
      /** Each load process's event loop: the share of the phase it was busy. */
      loadBusy: number[];
    };
    type Cpu = Record<string, number>;
    /**
     * Runs the slices in `loaderCount` load processes (never more than clients), the clients dealt
     * among them; each slice starts when every process is at its edge. Each phase's figures over all
     * of them, with every part's CPU over its slices.
     */
    const run = async (slices: Phase[], sliceSeconds: number, clients: number) => {
      const loaders = Math.min(loaderCount, clients);
      const children = await Promise.all(
        Array.from({ length: loaders }, async (_, l) => {
          const file = join(workDir, `load-${l}.json`);
          const mine = job.clients.slice(0, clients).filter((_, c) => c % loaders === l);
          await writeFile(file, JSON.stringify({ ...job, clients: mine, slices, sliceSeconds }), {
            mode: 0o600,
          });
          return spawnChild(['--load', file]);
        }),
      );
      const cpu: Record<Phase, Cpu> = { product: {}, floor: {} };
      let current: Phase | undefined;
      let before: Cpu = cpuNow();
      let marked = 0;
      for (const child of children) {
        // One that failed ends the others, which would wait for it at the next edge.
        child.process.once('exit', (code) => {
          if (code !== 0) for (const other of children) other.process.kill();
        });
        child.process.on('message', (message: { mark?: Phase | 'end' }) => {
          if (message.mark === undefined || ++marked < loaders) return;
          marked = 0;
          const now: Cpu = cpuNow();
          if (current) {
            for (const [k, v] of Object.entries(now))
              cpu[current][k] = (cpu[current][k] ?? 0) + v - (before[k] ?? 0);
          }
          before = now;
          current = message.mark === 'end' ? undefined : message.mark;
          for (const other of children) other.process.send('go');
        });
      }
      const results = await Promise.all(children.map((child) => child.next<Record<Phase, Loaded>>('result')));
      await Promise.all(
        children.map(
          (child) =>
            new Promise((r) => (child.process.exitCode === null ? child.process.once('exit', r) : r(null))),
        ),
      );
      const withCpu = (phase: Phase): Figures & { cpu: Cpu } => {
        const { busy, ...figures } = mergeShares(results.map((r) => r[phase]));
        const loadCpu = results.reduce((sum, r) => sum + r[phase].loadCpu, 0);
        return { ...figures, loadCpu, loadBusy: busy, cpu: { ...cpu[phase], load: loadCpu } };
      };
      return { floor: withCpu('floor'), product: withCpu('product'), loaders };
    };
    // Warm up both paths (JIT, pools, prepared statements), then measure floor and product in turns.
    await run(['floor', 'product'], 5, clientCount);
    const { order, turnSeconds } = turns<Phase>(seconds, 'floor', 'product');

    const line = (name: string, s: Figures & { cpu: Cpu }) => {
      const failures = Object.values(s.failed).reduce((a, b) => a + b, 0);
      console.log(
        `  ${name.padEnd(44)} ${s.perSecond.toFixed(0).padStart(6)}/s  p50 ${s.p50.toFixed(1).padStart(7)} ms  ` +
          `p99 ${s.p99.toFixed(1).padStart(7)} ms  ${String(s.count).padStart(7)} opens  failed ${failures}`,
      );
      // A p50 between two modes moves far on a small shift of the mix (the floor's, with many clients).
      console.log(
        `      latency ms: p25 ${s.p25.toFixed(1)}, p50 ${s.p50.toFixed(1)}, p75 ${s.p75.toFixed(1)}, mean ${s.mean.toFixed(1)}`,
      );
      const perOpen = Object.entries(s.cpu).map(([k, v]) => `${k} ${((v * 1000) / s.count).toFixed(2)}`);
      console.log(`      CPU ms per open: ${perOpen.join(', ')}`);
      const busy = s.loadBusy.map((b) => `${(b * 100).toFixed(0)} %`).join(', ');
      console.log(`      load generators' event loops busy: ${busy}`);
      for (const [key, n] of Object.entries(s.failed)) console.log(`      ${n} × ${key}`);
      return failures;
    };
    const ratiosOf = (floor: Figures, product: Figures) => ({
      p50: (product.p50 / floor.p50).toFixed(2),
      p99: (product.p99 / floor.p99).toFixed(2),
      throughput: (product.perSecond / floor.perSecond).toFixed(3),
    });
    let failures = 0;
    const byCount: Array<{ clients: number; floor: Figures; product: Figures }> = [];
    for (const clients of clientCounts) {
      const { floor, product, loaders } = await run(order, turnSeconds, clients);
      console.log(
        `\n[remote-open] ${connected} IQs online, ${clients} concurrent clients from ${loaders} ` +
          `load process${loaders === 1 ? '' : 'es'}, ${seconds} s each, ` +
          `Node ${process.version}, ${stack.temporalServer}`,
      );
      failures +=
        line('floor: bare HTTP + one TCP hop to the IQ', floor) +
        line('POST /sites/:id/locks/:lockId/open', product);
      const ratios = ratiosOf(floor, product);
      console.log(
        `  throughput ratio ${ratios.throughput}, p50 ratio ${ratios.p50}, p99 ratio ${ratios.p99}`,
      );
      byCount.push({ clients, floor, product });
    }
    if (byCount.length > 1) {
      console.log('\n  clients  floor p50  product p50  p50 ratio  p99 ratio  throughput ratio');
      for (const { clients, floor, product } of byCount) {
        const ratios = ratiosOf(floor, product);
        console.log(
          `  ${String(clients).padStart(7)}  ${floor.p50.toFixed(1).padStart(6)} ms  ${product.p50.toFixed(1).padStart(8)} ms` +
            `  ${ratios.p50.padStart(9)}  ${ratios.p99.padStart(9)}  ${ratios.throughput.padStart(16)}`,
        );
      }
    }
    console.log(
      `[remote-open] server-side: ${stack.served.requests} API requests answered, ${stack.served.serverErrors} with 5xx`,
    );
    if (failures > 0 || stack.served.serverErrors > 0) process.exitCode = 1;
    const last = byCount.at(-1)!;
    const ratios = ratiosOf(last.floor, last.product);
    console.log(`RESULT remote-open p50ratio=${ratios.p50} p99ratio=${ratios.p99} iqs=${connected}`);
  } finally {
    for (const child of children.reverse()) await child.stop().catch(() => child.process.kill('SIGKILL'));
    await bus.client?.close();
    await rm(workDir, { recursive: true, force: true });
    await stack.stop();
  }
}

const role = process.argv[2];
if (role === '--gateway') await gatewayProcess(process.argv[3]!, Number(process.argv[4]));
else if (role === '--fleet') await fleetProcess(process.argv[3]!, Number(process.argv[4]));
else if (role === '--load') await loadProcess(process.argv[3]!);
else {
  const { server, args: allArgs } = benchOptions();
  const loadersOption = takeOption(allArgs, '--loaders');
  const loaders = loadersOption.value === undefined ? availableParallelism() : Number(loadersOption.value);
  const args = loadersOption.rest;
  const clientCounts = (args[1] ?? '32').split(',').map(Number);
  if (clientCounts.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error(
      `bench/remote-open: clients must be whole numbers from 1, as one count or a list: ${args[1]}`,
    );
    process.exit(2);
  }
  if (!Number.isInteger(loaders) || loaders < 1) {
    console.error(`bench/remote-open: --loaders must be a whole number from 1: ${loadersOption.value}`);
    process.exit(2);
  }
  await bench(Number(args[0] ?? 1_000), clientCounts, Number(args[2] ?? 10), server, loaders);
}
