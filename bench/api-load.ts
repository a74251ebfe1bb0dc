/**
 * bench/api-load (issue 15): the main read and write endpoints under many concurrent clients, for a
 * fixed time each, against a real stack (PostgreSQL, Temporal dev server or cluster, worker, HTTP API
 * on a free port: bench/local-stack.ts), and in the same run the floor: a bare Hono route doing one
 * `select 1` through the same pool, served by @hono/node-server in the same process. The load comes
 * from processes of their own (bench/api-load-client.ts), one run per scenario, the clients dealt among
 * them (one for the throughput scenarios, one per core for the login storm: LOADERS below); every
 * client speaks from an address of its own through the trusted-proxy mechanism (TRUSTED_PROXIES
 * 127.0.0.1 and X-Forwarded-For), so per-address throttles see one client each.
 *
 * Each scenario runs with a floor run of its own, in slices of about 2 s alternating with the floor's
 * (floor then scenario, scenario then floor, ...): the machine's speed drifts within a minute, and
 * whichever phase ran second would otherwise carry the drift alone. Printed per scenario:
 * throughput, p50/p99, failures, the ratio of its throughput to its floor's, the CPU per request of
 * each part (this process: the API with its worker and relay, and the floor's route; PostgreSQL; the
 * Temporal server; the load generators), its own against its floor's, read at each slice's edges, how
 * busy the busiest generator's event loop was, and with --count-sql, the SQL statements per request
 * (counted by the stack's pool, in a run of their own: counting costs every query a stack trace). Then
 * the login storm: GET /me p99 while `stormLogins` more clients log in, against its p99 alone.
 *
 * Run: npx tsx bench/api-load.ts [secondsPerScenario=8] [clients=64] [stormLogins=32] [--server dev|cluster] [--count-sql] [--loaders N]
 * Last line: RESULT api-load reads=<lowest GET ratio> mix=<mix ratio> loginp99ratio=<GET /me p99 during the storm / alone>
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { hashPassword } from '../api/auth/passwords';
import { issueBearerToken } from '../api/auth/tokens';
import { events, memberships, profiles, sites } from '../db/schema';
import { freePort } from '../infra/free-port';
import { type ApiLoadJob, READS, SCENARIOS } from './api-load-scenarios';
import { cpuSampler } from './cpu';
import { startLocalStack } from './local-stack';
import { type Driven, mergeShares } from './stats';
import { benchOptions, takeOption } from './temporal-server';

const { server, args: allArgs } = benchOptions();
/** --count-sql: SQL statements per request, in a run of its own (counting slows every query a little). */
const countSql = allArgs.includes('--count-sql');
/**
 * Load generator processes, the clients dealt among them. A throughput ratio takes the cheapest load
 * that does not hold the floor back: one process (busy 99–100 % of the floors' time, yet two processes
 * gave no faster floor: the machine is the limit, and two cost more per request); a latency
 * takes one per core (a generator whose event loop is saturated measures its own queue): the login
 * storm and its GET /me alone. `--loaders N` sets both.
 */
const loadersOption = takeOption(allArgs, '--loaders');
const loadersFlag = loadersOption.value === undefined ? undefined : Number(loadersOption.value);
if (loadersFlag !== undefined && (!Number.isInteger(loadersFlag) || loadersFlag < 1))
  throw new Error('--loaders must be a whole number from 1');
const args = loadersOption.rest.filter((a) => a !== '--count-sql');
const seconds = Number(args[0] ?? 8);
const clients = Number(args[1] ?? 64);
// Never more processes than clients: each drives at least one.
const LOADERS = {
  throughput: Math.min(loadersFlag ?? 1, clients),
  latency: Math.min(loadersFlag ?? availableParallelism(), clients),
};
const stormLogins = Number(args[2] ?? 32);
const SITES = clients;
const MEMBERS_PER_SITE = 10;
const EVENTS_PER_SITE = 200;
const PASSWORD = 'bench-password-123';

const stack = await startLocalStack({
  server,
  trustedProxies: ['127.0.0.1'],
  countStatements: countSql,
});
const { db } = stack.database;
console.log(`[api-load] stack at ${stack.url}; ${clients} clients, ${seconds} s per scenario`);

// --- Data: one site per client, each with an owner, members and an audit trail. ---
const passwordHash = await hashPassword(PASSWORD);
const owners = await db
  .insert(profiles)
  .values(
    Array.from({ length: SITES }, (_, i) => ({
      email: `owner${i}@load.test`,
      name: `Owner ${i}`,
      passwordHash,
      emailConfirmedAt: new Date(),
    })),
  )
  .returning({ id: profiles.id, email: profiles.email });
const members = await db
  .insert(profiles)
  .values(
    Array.from({ length: SITES * MEMBERS_PER_SITE }, (_, i) => ({
      email: `member${i}@load.test`,
      name: `Member ${i}`,
      passwordHash: 'x',
      emailConfirmedAt: new Date(),
    })),
  )
  .returning({ id: profiles.id });
const siteRows = await db
  .insert(sites)
  .values(
    Array.from({ length: SITES }, (_, i) => ({
      name: `Load site ${i}`,
      subscriptionStatus: 'active' as const,
    })),
  )
  .returning({ id: sites.id });
await db.insert(memberships).values([
  ...siteRows.map((s, i) => ({
    siteId: s.id,
    profileId: owners[i]!.id,
    role: 'owner' as const,
    masterKey: true,
  })),
  ...members.map((m, i) => ({
    siteId: siteRows[Math.floor(i / MEMBERS_PER_SITE)]!.id,
    profileId: m.id,
    role: 'user' as const,
  })),
]);
for (const s of siteRows) {
  await db.insert(events).values(
    Array.from({ length: EVENTS_PER_SITE }, (_, i) => ({
      siteId: s.id,
      type: 'lock.opened',
      actorProfileId: owners[0]!.id,
      data: { i },
    })),
  );
}
const tokens = await Promise.all(owners.map((o) => issueBearerToken(db, o.id, new Date())));

// --- The floor: a bare Hono route with one query through the same pool. ---
const bare = new Hono();
bare.get('/bare', async (c) => {
  const [row] = await stack.database.sql`select 1 as one`;
  return c.json(row);
});
const barePort = await freePort();
const bareServer = serve({ fetch: bare.fetch, port: barePort, hostname: '127.0.0.1' });

const workDir = await mkdtemp(join(tmpdir(), 'bench-api-load-'));
const job: ApiLoadJob = {
  url: stack.url,
  floorUrl: `http://127.0.0.1:${barePort}`,
  clients,
  stormLogins,
  password: PASSWORD,
  owners: owners.map((o, i) => ({ email: o.email, token: tokens[i]!, siteId: siteRows[i]!.id })),
};
const jobPath = join(workDir, 'job.json');
await writeFile(jobPath, JSON.stringify(job), { mode: 0o600 });

interface Figures {
  count: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** The share of the time the busiest load generator's event loop was busy. */
  loadBusy: number;
  failed: Record<string, number>;
}

/**
 * CPU seconds of the parts: this process (the API, its worker and relay, and the floor's route),
 * PostgreSQL, the Temporal server, the load generator.
 */
const PARTS = ['api', 'postgres', 'temporal', 'load'] as const;
type Cpu = Record<(typeof PARTS)[number], number>;
const noCpu = (): Cpu => ({ api: 0, postgres: 0, temporal: 0, load: 0 });
/** Reads PostgreSQL's and Temporal's CPU (their processes found after the warm-up, the pool's connections open). */
let readServers: (() => Record<string, number>) | undefined;

/**
 * Runs the load generators (`loaders` processes, each with its share of the clients) for one scenario,
 * started together, and returns what they measured, each group's figures over all of them, and for a
 * `+floor` scenario each phase's CPU by part, read at each slice's start and end once every generator
 * is there.
 */
async function load(scenario: string, durationS: number, loaders: number) {
  const children = Array.from({ length: loaders }, (_, share) =>
    spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./api-load-client.ts', import.meta.url)),
        jobPath,
        scenario,
        String(durationS),
        String(share),
        String(loaders),
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    ),
  );
  const cpu = { product: noCpu(), floor: noCpu() };
  const reading = (loadCpuSeconds: number): Cpu => {
    const own = process.cpuUsage();
    const servers = readServers?.() ?? {};
    return {
      api: (own.user + own.system) / 1e6,
      postgres: servers.postgres ?? 0,
      temporal: servers.temporal ?? 0,
      load: loadCpuSeconds,
    };
  };
  let started: Cpu | undefined;
  // The generators' lines of the edge they are at (each waits for its answer before the next).
  let waiting: Array<{ boundary?: 'start' | 'end'; phase?: 'product' | 'floor'; loadCpuSeconds?: number }> =
    [];
  const lasts = children.map(() => '');
  const closed = children.map((child, i) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('{"boundary"') && !line.startsWith('{"ready"')) {
        if (line.trim()) lasts[i] = line;
        return;
      }
      waiting.push(JSON.parse(line));
      if (waiting.length < children.length) return;
      const { boundary, phase } = waiting[0]!;
      if (boundary && phase) {
        const now = reading(waiting.reduce((sum, w) => sum + (w.loadCpuSeconds ?? 0), 0));
        if (boundary === 'start') started = now;
        else if (started) for (const part of PARTS) cpu[phase][part] += now[part] - started[part];
      }
      waiting = [];
      for (const other of children) other.stdin.write('\n');
    });
    // 'close', not 'exit': it comes once stdout has ended, so its last line has been read. One that
    // failed ends the others, which would wait for it at the next edge.
    return new Promise<number | null>((resolve) =>
      child.once('close', (code) => {
        if (code !== 0) for (const other of children) other.kill();
        resolve(code);
      }),
    );
  });
  const codes = await Promise.all(closed);
  if (codes.some((code) => code !== 0)) throw new Error(`load generators (${scenario}) exited with ${codes}`);
  const measured = lasts.map((last) => JSON.parse(last) as { groups: Record<string, Driven> });
  const groups = Object.fromEntries(
    Object.keys(measured[0]!.groups).map((name) => [name, merged(measured.map((m) => m.groups[name]!))]),
  );
  return { groups, cpu };
}

/** A group's figures over every generator's share: all latencies, the longest wall, the busiest loop. */
function merged(shares: Driven[]): Figures {
  const { count, perSecond, p50, p99, failed, busy } = mergeShares(shares);
  return { count, perSecond, p50, p99, loadBusy: Math.max(0, ...busy), failed };
}

const busy = (f: Figures) => `${(f.loadBusy * 100).toFixed(0)} %`;
const failures = (f: Figures) => Object.values(f.failed).reduce((a, b) => a + b, 0);
const fmt = (s: Figures) =>
  `${s.perSecond.toFixed(0).padStart(6)} req/s   p50 ${s.p50.toFixed(1).padStart(6)} ms   p99 ${s.p99.toFixed(1).padStart(6)} ms   ` +
  `${String(s.count).padStart(7)} requests   failed ${failures(s)}`;

try {
  // Warm up both servers (JIT, pools, prepared statements).
  await load('mix+floor', 2, LOADERS.throughput);
  readServers = cpuSampler({ postgres: stack.postgresProcesses, temporal: stack.temporalProcesses });

  // Each scenario with a floor run of its own, their slices alternating, and the ratio to that floor.
  const results: Array<{
    name: string;
    figures: Figures;
    floor: Figures;
    perRequest: number;
    cpu: { product: Cpu; floor: Cpu };
  }> = [];
  for (const name of [...SCENARIOS, 'mix']) {
    const before = stack.served.statements;
    const { groups, cpu } = await load(`${name}+floor`, seconds, LOADERS.throughput);
    const figures = groups[name]!;
    // The pool's statements while this scenario ran (the worker's sweeps add a few, and the bare
    // route one per request, which is taken off), per request.
    const perRequest = (stack.served.statements - before - groups.floor!.count) / Math.max(1, figures.count);
    results.push({ name, figures, floor: groups.floor!, perRequest, cpu });
  }
  // GET /me alone, then the same with the login storm beside it.
  const alone = (await load('GET /me', seconds, LOADERS.latency)).groups['GET /me']!;
  const storm = (await load('login-storm', seconds, LOADERS.latency)).groups;
  const ratio = (name: string) => {
    const r = results.find((x) => x.name === name)!;
    return r.figures.perSecond / r.floor.perSecond;
  };

  console.log(
    `\n[api-load] ${clients} concurrent clients, ${seconds} s each, load from ${LOADERS.throughput} process${LOADERS.throughput === 1 ? '' : 'es'} of its own, Node ${process.version}, ${stack.temporalServer}`,
  );
  console.log(
    `${'scenario'.padEnd(34)} throughput, latency, failures${' '.repeat(36)}ratio to its floor (alternating)  SQL/req`,
  );
  let totalFailures = 0;
  const print = (name: string, s: Figures, extra: string) => {
    totalFailures += failures(s);
    console.log(`${name.padEnd(34)} ${fmt(s)}   ${extra}`);
    for (const [key, count] of Object.entries(s.failed)) console.log(`    ${count} × ${key}`);
  };
  for (const { name, figures, floor, perRequest, cpu } of results) {
    print('  floor (bare Hono + select 1)', floor, '');
    print(
      name,
      figures,
      `${(figures.perSecond / floor.perSecond).toFixed(3)}  ${countSql ? perRequest.toFixed(2) : '-'}`,
    );
    // Where each request's CPU went, this scenario's against its floor's (µs over each phase's slices).
    const per = (used: Cpu, f: Figures, part: (typeof PARTS)[number] | 'all') => {
      const seconds = part === 'all' ? PARTS.reduce((sum, p) => sum + used[p], 0) : used[part];
      return ((seconds * 1e6) / Math.max(1, f.count)).toFixed(0);
    };
    console.log(
      `    CPU µs per request, this / floor: ${[...PARTS, 'all' as const]
        .map((part) => `${part} ${per(cpu.product, figures, part)} / ${per(cpu.floor, floor, part)}`)
        .join(', ')}; load generator busy ${busy(figures)} / ${busy(floor)}`,
    );
  }
  const during = storm['GET /me']!;
  const loginRatio = during.p99 / alone.p99;
  console.log(
    `\nlogin storm: GET /me on ${clients} clients while ${stormLogins} clients log in, load from ${LOADERS.latency} process${LOADERS.latency === 1 ? '' : 'es'}`,
  );
  print('  GET /me alone (just before)', alone, `load generator busy ${busy(alone)}`);
  print('  GET /me during the storm', during, `load generator busy ${busy(during)}`);
  print('  POST /auth/login (the storm)', storm['POST /auth/login']!, '');
  console.log(
    `  GET /me p99 ${during.p99.toFixed(1)} ms vs ${alone.p99.toFixed(1)} ms alone: ${loginRatio.toFixed(2)} ×`,
  );
  console.log(
    `\n[api-load] server-side: ${stack.served.requests} requests answered, ${stack.served.serverErrors} with 5xx; ` +
      `failures seen by clients: ${totalFailures}`,
  );
  if (totalFailures > 0 || stack.served.serverErrors > 0) process.exitCode = 1;
  const reads = Math.min(...READS.map(ratio));
  console.log(
    `RESULT api-load reads=${reads.toFixed(3)} mix=${ratio('mix').toFixed(3)} loginp99ratio=${loginRatio.toFixed(2)}`,
  );
} finally {
  bareServer.close();
  await stack.stop();
  await rm(workDir, { recursive: true, force: true });
}
