/**
 * bench/redemption (issue 15): redemptions over HTTP (API claims in PostgreSQL → relay tells the
 * site's workflow with signalWithStart, pushes to its IQs, sends the receipt) against the floor, a
 * bare no-op update-with-start on the same Temporal server, in one run.
 *
 * The system under test runs in this process (bench/local-stack: PostgreSQL, the Temporal server,
 * the product's worker and API, and the no-op workflow's worker); the load comes from a separate
 * process (bench/redemption-load.ts), once per round: one round of each by default, the product's
 * first; with --rounds N, N of each taken in turn (product first, then floor first, ...), so that the
 * machine's drift weighs on both alike, but every round's start and end is a burst's, whose tail the
 * floor pays more for (its throughput waits on the server's matching, not on the CPU). After a
 * product round's last answer it waits until everything the answers caused is done (workflows told,
 * IQ pushes, receipts), and every round until the system is back at rest (the server's queues, the
 * relays), and counts that time in the round's throughput; so each round starts on a quiet system.
 * One owner, site and voucher per redemption: each starts its site's workflow. Before any round, a
 * warm-up of each phase (`--warmup`, 128 calls by default, on sites of their own), unmeasured and
 * drained, as api-load and remote-open warm up: measured cold, each phase also paid for its first
 * calls' compiling and connecting (V8's own threads 2.3 ms a redemption cold, 1.9 warm; 64 cold
 * floor calls ran at a third of the product's pace).
 *
 * Where the time goes, printed after the figures: CPU per call by part of the system, and per second
 * with no load (measured for 5 s before the product's phase); from a sample
 * of the workflows' histories (each checked to hold the database's term), the workflow tasks, local
 * activities, activities, signals and updates per redemption; then the claim's database time alone
 * (the claim called directly, as many at once as there are clients).
 *
 * Run: npx tsx bench/redemption.ts [redemptions=512] [clients=32] [--rounds N] [--warmup N] [--server dev|cluster]
 * (the cluster of `start:cluster` instead of the dev server: bench/local-stack.ts).
 * Last line: RESULT redemption server=<dev|cluster> ratio=<throughput ratio> p99ratio=<p99 / floor p99>
 */
// First: NODE_ENV as deployed, before anything loads React.
import './production-env';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createSubscriptionActivities } from '../activities/subscription';
import { issueBearerToken } from '../api/auth/tokens';
import { findCurrentTerm } from '../db/queries/subscriptions';
import { issueVouchers } from '../db/queries/vouchers';
import { memberships, profiles, sites } from '../db/schema';
import { hashVoucherCode, normalizeVoucherCode } from '../domain/voucher-codes';
import { createMailer } from '../emails/mailer';
import { noopGatewayClient } from '../gateway/client';
import { POLLING } from '../worker/create-worker';
import { querySubscriptionState } from '../workflows/client/subscription';
import { subscriptionWorkflowId } from '../workflows/ids';
import { cpuSampler, cpuSeconds, threadCpuSeconds } from './cpu';
import { startLocalStack } from './local-stack';
import type { RedemptionJob } from './redemption-load';
import { runConcurrent, sumCounts, summarize } from './stats';
import { benchOptions, takeOption } from './temporal-server';

const { server: SERVER, args: allArgs } = benchOptions();
const rounds = takeOption(allArgs, '--rounds');
/** --rounds N: product and floor each in N rounds, taken in turn (1: each whole, the product's first). */
const ROUNDS = rounds.value === undefined ? 1 : Number(rounds.value);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error('--rounds must be a positive integer');
const warmup = takeOption(rounds.rest, '--warmup');
/**
 * --warmup N: N calls of each phase before any is measured, on sites of their own, each drained to
 * rest (JIT, pools, prepared statements), as api-load warms up; 0 measures both cold.
 */
if (warmup.value !== undefined && !/^\d+$/.test(warmup.value))
  throw new Error('--warmup must be a whole number from 0');
const WARMUP = warmup.value === undefined ? 128 : Number(warmup.value);
const args = warmup.rest;
const total = Number(args[0] ?? 512);
const clients = Number(args[1] ?? 32);
const NOOP_QUEUE = 'bench-noop';
type Phase = 'product' | 'floor';
const EventType = proto.temporal.api.enums.v1.EventType;

// The load's calls name their client's address through the proxy header, as behind a load balancer.
const stack = await startLocalStack({ mode: 'production', server: SERVER, trustedProxies: ['127.0.0.1'] });
const { db, sql } = stack.database;
const temporalAddress = (stack.temporal.connection as Connection).options.address;
/**
 * The system's processes besides this one: the dev server is one process, the cluster's services (a
 * process each) are added up.
 */
const SERVERS = { temporal: stack.temporalProcesses, postgres: stack.postgresProcesses };
/** CPU seconds so far of this process: the API and the workers. */
const ownCpu = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};
/** CPU seconds so far of the Temporal server, PostgreSQL and this process (API and workers). */
const cpuNow = () => ({
  ...cpuSeconds(SERVERS),
  'API and workers': ownCpu(),
  // Its threads: `main` (the API, the relays, activities), `node (V8)` (V8's own), `node worker N`
  // (the workflow threads: the product's worker's, then the floor's), `tokio-runtime-w` and the like
  // (Temporal's core).
  ...Object.fromEntries(
    Object.entries(threadCpuSeconds() ?? {}).map(([name, seconds]) => [`  thread ${name}`, seconds]),
  ),
});
/** The parts of a cpuNow() or cpuSince(), without the API's threads (their share told apart). */
const partsOf = (cpu: Record<string, number>) =>
  Object.entries(cpu).filter(([name]) => !name.startsWith(' '));
/** CPU seconds of each part since `before` (a cpuNow()). */
const cpuSince = (before: ReturnType<typeof cpuNow>): Record<string, number> =>
  Object.fromEntries(
    Object.entries(cpuNow()).map(([name, seconds]) => [
      name,
      seconds - (before[name as keyof typeof before] ?? 0),
    ]),
  );
const noopWorker = await Worker.create({
  connection: stack.native,
  taskQueue: NOOP_QUEUE,
  // Polling as the product's worker polls.
  ...POLLING,
  workflowsPath: fileURLToPath(new URL('./noop/workflow.ts', import.meta.url)),
});
const noopRun = noopWorker.run();
const workDir = await mkdtemp(join(tmpdir(), 'bench-redemption-'));

/** One owner, one site and one voucher per redemption. */
async function seed(count: number, label: string) {
  const owners = await db
    .insert(profiles)
    .values(
      Array.from({ length: count }, (_, i) => ({
        email: `${label}${i}-${randomUUID()}@bench.test`,
        name: `Owner ${i}`,
        passwordHash: 'x',
        emailConfirmedAt: new Date(),
      })),
    )
    .returning({ id: profiles.id });
  const siteRows = await db
    .insert(sites)
    .values(owners.map((_, i) => ({ name: `Bench ${label} ${i}` })))
    .returning({ id: sites.id });
  await db
    .insert(memberships)
    .values(siteRows.map((s, i) => ({ siteId: s.id, profileId: owners[i]!.id, role: 'owner' as const })));
  const codes = await issueVouchers(db, { usersLimit: 10, iqsLimit: 2, durationDays: 365 }, count);
  return siteRows.map((s, i) => ({ siteId: s.id, ownerId: owners[i]!.id, code: codes[i]!.code }));
}

const failedKinds = (failed: Record<string, number>) =>
  Object.keys(failed).length
    ? ` (${Object.entries(failed)
        .map(([kind, n]) => `${n}× ${kind}`)
        .join(', ')})`
    : '';

/** Runs the load generator in its own process and returns what it measured. */
async function load(job: RedemptionJob, phase: Phase) {
  const path = join(workDir, `${phase}.json`);
  await writeFile(path, JSON.stringify(job));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./redemption-load.ts', import.meta.url)), path, phase],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`load generator (${phase}) exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as {
    latencies: number[];
    wallMs: number;
    failures: number;
    failed: Record<string, number>;
    cpuSeconds: number;
  };
}

/** A phase of load, with the CPU seconds each part of the system spent on it (until `settled`). */
async function measured(
  job: RedemptionJob,
  phase: Phase,
  settled: (result: Awaited<ReturnType<typeof load>>) => Promise<void>,
) {
  const before = cpuNow();
  const result = await load(job, phase);
  await settled(result);
  const cpu = cpuSince(before);
  cpu['load generator'] = result.cpuSeconds;
  return { ...result, cpu };
}

async function waitForReceipts(expected: number) {
  for (let i = 0; i < 3000; i++) {
    const [row] = await sql`select count(*)::int as n from sent_emails where template = 'redemption-receipt'`;
    if ((row?.n as number) >= expected) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('receipts did not all go out within 5 minutes');
}

/** What one redemption cost its site's workflow: workflow tasks, local activities, activities, signals. */
async function anatomy(siteId: string) {
  const handle = stack.temporal.workflow.getHandle(subscriptionWorkflowId(siteId));
  const events = (await handle.fetchHistory()).events ?? [];
  const count = (type: number, marker?: string) =>
    events.filter(
      (e) => e.eventType === type && (!marker || e.markerRecordedEventAttributes?.markerName === marker),
    ).length;
  // The workflow holds the database's term: told, and adopted.
  const [state, stored] = await Promise.all([
    querySubscriptionState(stack.temporal, siteId),
    findCurrentTerm(db, siteId),
  ]);
  if (!stored || state.term?.id !== stored.id) {
    throw new Error(
      `the workflow of site ${siteId} holds term ${state.term?.id}, the database ${stored?.id}`,
    );
  }
  return {
    workflowTasks: count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    localActivities: count(EventType.EVENT_TYPE_MARKER_RECORDED, 'core_local_activity'),
    activities: count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
    signals: count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
    updates: count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED),
    events: events.length,
  };
}

try {
  const seeded = await seed(WARMUP + total, 'p');
  const tokens = await Promise.all(seeded.map((c) => issueBearerToken(db, c.ownerId, new Date())));
  const jobOf = (from: number, to: number): RedemptionJob => ({
    url: stack.url,
    temporalAddress,
    noopTaskQueue: NOOP_QUEUE,
    clients,
    calls: seeded
      .slice(from, to)
      .map((c, i) => ({ siteId: c.siteId, token: tokens[from + i]!, code: c.code })),
  });
  // The warm-up's calls first, then the measured ones.
  const calls = seeded.slice(WARMUP);

  // What the system spends with no load at all (polls, timers, relays' sweeps): a phase that runs
  // longer carries more of it per call.
  const IDLE_SECONDS = 5;
  const idleBefore = cpuNow();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const idle = partsOf(cpuSince(idleBefore));
  const idlePerSecond = idle.map(
    ([name, seconds]) => `${name} ${((seconds * 1000) / IDLE_SECONDS).toFixed(1)}`,
  );
  /** CPU seconds a second of the whole system at rest (the load generator aside). */
  const idleRate = idle.reduce((sum, [, seconds]) => sum + seconds, 0) / IDLE_SECONDS;
  /**
   * Waits until the system is back at rest: the work a round left behind (the Temporal server's
   * queues: timers, visibility, transfers; the relays) is done in that round's time, not in the next.
   * Resolves with the instant the first half-second at rest began, found to a tenth of a second (the
   * CPU is read that often; half-seconds read one after another put the end up to 0.5 s late).
   */
  const quiet = async () => {
    const sample = cpuSampler(SERVERS);
    /** CPU seconds so far of the parts (this process's own included) and when they were read. */
    const readings: Array<{ at: number; cpu: number }> = [];
    for (let i = 0; i < 300; i++) {
      const cpu = Object.values(sample()).reduce((a, b) => a + b, 0) + ownCpu();
      const at = performance.now();
      readings.push({ at, cpu });
      // The half-second that ends now.
      const from = readings.at(-6);
      if (from && (cpu - from.cpu) / ((at - from.at) / 1000) <= idleRate * 1.5 + 0.05) return from.at;
      await new Promise((r) => setTimeout(r, 100));
    }
    return performance.now();
  };

  let receipts = 0;
  /**
   * Waits until what a phase's calls caused is done (a product's receipts out) and the system is back
   * at rest (quiet); resolves with the instant that rest began.
   */
  const drained = async (phase: Phase, job: RedemptionJob, result: Awaited<ReturnType<typeof load>>) => {
    if (phase === 'product') {
      receipts += job.calls.length - result.failures;
      await waitForReceipts(receipts);
    }
    return quiet();
  };

  // The warm-up: each phase once, unmeasured, and drained as a measured round is.
  if (WARMUP > 0) {
    const warm = jobOf(0, WARMUP);
    for (const phase of ['product', 'floor'] as const) await drained(phase, warm, await load(warm, phase));
  }

  // In ROUNDS rounds, product and floor in turn (product first, then floor first, ...). Each product
  // round has sites of its own. Every round ends drained, in its own time: a product round once
  // everything its answers caused (the workflows told, the IQ pushes, the receipts) is done, and any
  // round once the system is back at rest (quiet).
  type Measured = Awaited<ReturnType<typeof measured>>;
  const rounds: Record<Phase, Measured[]> = { product: [], floor: [] };
  const drainMs = { product: 0, floor: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    const from = Math.floor((r * total) / ROUNDS);
    const to = Math.floor(((r + 1) * total) / ROUNDS);
    const roundJob = jobOf(WARMUP + from, WARMUP + to);
    const round = (phase: Phase) => async () =>
      rounds[phase].push(
        await measured(roundJob, phase, async (result) => {
          const started = performance.now();
          drainMs[phase] += (await drained(phase, roundJob, result)) - started;
        }),
      );
    const [productRound, floorRound] = [round('product'), round('floor')];
    if (r % 2 === 0) await productRound().then(floorRound);
    else await floorRound().then(productRound);
  }
  /** One phase over its rounds: every latency, the wall time, failures and CPU added up. */
  const merged = (parts: Measured[]) => {
    const failed = sumCounts(parts.map((part) => part.failed));
    const cpu = sumCounts(parts.map((part) => part.cpu));
    return {
      latencies: parts.flatMap((part) => part.latencies),
      wallMs: parts.reduce((sum, part) => sum + part.wallMs, 0),
      failures: parts.reduce((sum, part) => sum + part.failures, 0),
      failed,
      cpu,
    };
  };
  const product = merged(rounds.product);
  const floor = merged(rounds.floor);

  // Throughput counts the drain: work deferred past the last answer is not free.
  const a = summarize(product.latencies, product.wallMs + drainMs.product);
  const b = summarize(floor.latencies, floor.wallMs + drainMs.floor);
  const ratio = a.perSecond / b.perSecond;
  const p99ratio = a.p99 / b.p99;
  console.log(
    `bench/redemption: ${total} redemptions, ${clients} concurrent clients, in ${ROUNDS} rounds each after ${WARMUP} of each to warm up, ${stack.temporalServer}, NODE_ENV=${process.env.NODE_ENV}`,
  );
  console.log(
    `  redemption over HTTP:    ${a.perSecond.toFixed(1)}/s  p50 ${a.p50.toFixed(0)} ms  p99 ${a.p99.toFixed(0)} ms  non-200: ${product.failures}${failedKinds(product.failed)}`,
  );
  console.log(
    `  no-op update-with-start: ${b.perSecond.toFixed(1)}/s  p50 ${b.p50.toFixed(0)} ms  p99 ${b.p99.toFixed(0)} ms  failures: ${floor.failures}${failedKinds(floor.failed)}`,
  );
  console.log(`  throughput ratio ${ratio.toFixed(2)}, p99 ratio ${p99ratio.toFixed(2)}`);

  // Where the time goes: CPU by part of the system (the product's includes its receipts and pushes).
  const names = Object.keys(product.cpu);
  const width = Math.max(...names.map((name) => name.length));
  console.log(`  ${'CPU ms per call'.padEnd(width + 2)} ${'redemption'.padStart(10)} ${'floor'.padStart(8)}`);
  for (const name of names) {
    const per = (x: typeof product) => (((x.cpu[name] ?? 0) * 1000) / total).toFixed(1);
    console.log(`    ${name.padEnd(width)} ${per(product).padStart(10)} ${per(floor).padStart(8)}`);
  }
  // The parts' CPU per call, threads aside (they are the API's share told apart). On a saturated
  // machine this ratio is what the throughput ratio tends to, and a stall that leaves the CPU idle
  // (one phase waiting on the server's polls) does not move it.
  const allCpu = (x: typeof product) =>
    partsOf(x.cpu).reduce((sum, [, seconds]) => sum + (seconds * 1000) / total, 0);
  console.log(
    `    ${'all parts'.padEnd(width)} ${allCpu(product).toFixed(1).padStart(10)} ${allCpu(floor).toFixed(1).padStart(8)}` +
      `  (floor / redemption: ${(allCpu(floor) / allCpu(product)).toFixed(2)})`,
  );
  console.log(
    `  drained ${drainMs.product.toFixed(0)} ms (redemption) and ${drainMs.floor.toFixed(0)} ms (floor) after ` +
      `the rounds' last answers (counted in the throughput)`,
  );
  console.log(
    `  idle, before the load: CPU ms per second: ${idlePerSecond.join(', ')}; the phases lasted ` +
      `${((product.wallMs + drainMs.product) / 1000).toFixed(1)} s (redemption) and ` +
      `${((floor.wallMs + drainMs.floor) / 1000).toFixed(1)} s (floor)`,
  );
  const sample = calls.slice(0, Math.min(32, total));
  const anatomies = await Promise.all(sample.map((c) => anatomy(c.siteId)));
  const mean = (f: (x: (typeof anatomies)[number]) => number) =>
    (anatomies.reduce((s, x) => s + f(x), 0) / anatomies.length).toFixed(1);
  console.log(
    `  per redemption's workflow (mean of ${anatomies.length} histories, each holding the answered term): ` +
      `${mean((x) => x.workflowTasks)} workflow tasks, ${mean((x) => x.localActivities)} local activities, ` +
      `${mean((x) => x.activities)} activities, ${mean((x) => x.signals)} signals, ${mean((x) => x.updates)} updates; ` +
      `${mean((x) => x.events)} history events`,
  );

  // The claim's database time alone, at the same concurrency.
  const alone = await seed(Math.min(total, 256), 'db');
  const acts = createSubscriptionActivities({
    db,
    mailer: createMailer({ db, from: 'bench@ks.test' }),
    gateway: noopGatewayClient,
  });
  const silent = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
  const env = new MockActivityEnvironment(undefined, { logger: silent });
  const claims = await runConcurrent(alone.length, clients, async (i) => {
    const c = alone[i]!;
    const result: Awaited<ReturnType<typeof acts.redeemVoucher>> = await env.run(acts.redeemVoucher, {
      siteId: c.siteId,
      codeHash: hashVoucherCode(normalizeVoucherCode(c.code)!),
      requestId: randomUUID(),
      actorProfileId: c.ownerId,
      nowMs: Date.now(),
    });
    if (!result.ok) throw new Error(`claim refused: ${result.code}`);
  });
  const d = summarize(claims.latencies, claims.wallMs);
  console.log(
    `  the claim alone (redeemVoucher activity, ${clients} at once): ${d.perSecond.toFixed(0)}/s  ` +
      `p50 ${d.p50.toFixed(1)} ms  p99 ${d.p99.toFixed(1)} ms`,
  );
  if (product.failures > 0 || floor.failures > 0) throw new Error('some calls failed');
  console.log(`RESULT redemption server=${SERVER} ratio=${ratio.toFixed(2)} p99ratio=${p99ratio.toFixed(2)}`);
} finally {
  noopWorker.shutdown();
  await noopRun;
  await stack.stop();
  await rm(workDir, { recursive: true, force: true });
}
