/**
 * bench/access-sync (K7): N simulated IQs (default 10,000, sites of 100) in a load-generator process of
 * their own, a device gateway in a process of its own (its RSS and its SQL statements are its own),
 * and the product (HTTP API, worker, PostgreSQL, Temporal dev server) in this one.
 *
 * 1. Every IQ connects and takes its first full list.
 * 2. The gateway is SIGKILLed; while it is down every site gets `behind` access changes through the
 *    HTTP API (tags granted and revoked), so every IQ is that many versions behind.
 * 3. The gateway starts again on the same port; every IQ reconnects at once (with the simulator's
 *    backoff) and catches up. Measured: the time until every IQ has acknowledged its current version,
 *    the gateway's SQL statements per IQ over that time (a counting wrapper around its connection
 *    pool), its peak RSS.
 * 4. All but 1,000 IQs go away; then access changes through the API, one at a time: the time from
 *    the API request to each concerned IQ's ack (the IQ's own clock; same machine).
 *
 * Run: LOG_LEVEL=warn npx tsx bench/access-sync.ts [iqs=10000] [behind=4] [changes=40] [--server dev|cluster]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { issueBearerToken } from '../api/auth/tokens';
import { postgresAt } from '../db/connection-url';
import { syncAccessLists } from '../db/queries/access-lists';
import { issueVouchers } from '../db/queries/vouchers';
import { accessMethods, memberships, profiles, sites } from '../db/schema';
import { startGateway } from '../gateway/server';
import { freePort } from '../infra/free-port';
import { type Fleet, startFleet } from '../iq-sim/fleet';
import type { IqCredentials } from '../iq-sim/iq';
import { startLocalStack } from './local-stack';
import { seedIqsWithLocks } from './seed-iqs';
import { type BenchServer, benchOptions } from './temporal-server';

const SITE_SIZE = 100;
const MEMBERS_PER_SITE = 5;
const LATENCY_IQS = 1_000;
const HEARTBEAT_SECONDS = 30;

/** The system under test's gateway: counts every statement it sends to PostgreSQL. */
async function gatewayProcess(url: string, port: number) {
  let statements = 0;
  /** Statements by their first words, to see where the count comes from. */
  const byKind = new Map<string, number>();
  const sql = postgresAt(url, {
    max: 10,
    onnotice: () => {},
    debug: (_connection, query) => {
      statements++;
      const kind = query.replace(/\s+/g, ' ').trim().slice(0, 48);
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    },
  });
  const db = drizzle(sql, { casing: 'snake_case' });
  const instanceId = `bench-gw-${randomBytes(3).toString('hex')}`;
  const gateway = await startGateway({
    db,
    sql,
    ports: [port],
    instanceId,
    heartbeatSeconds: HEARTBEAT_SECONDS,
    host: '127.0.0.1',
    // Every simulated IQ connects from 127.0.0.1.
    guard: { maxConnectionsPerAddress: 100_000 },
  });
  process.on('message', async (message: string) => {
    if (message === 'stats') {
      const top = [...byKind].sort((a, b) => b[1] - a[1]).slice(0, 8);
      process.send?.({ stats: { rss: process.memoryUsage().rss, statements, top: Object.fromEntries(top) } });
    }
    if (message === 'stop') {
      await gateway.stop();
      await sql.end({ timeout: 5 });
      process.exit(0);
    }
  });
  process.send?.({ ready: instanceId });
}

/** The load generator: the simulated IQs, in a process apart from everything they are measured against. */
async function fleetProcess(credentialsFile: string, port: number) {
  const { readFile } = await import('node:fs/promises');
  const credentials = JSON.parse(await readFile(credentialsFile, 'utf8')) as IqCredentials[];
  const fleets: Fleet[] = [];
  for (let i = 0; i < credentials.length; i += 500) {
    fleets.push(
      await startFleet({
        credentials: credentials.slice(i, i + 500),
        ports: [port],
        host: '127.0.0.1',
        // A gateway welcoming thousands at once on a shared machine is slower than one IQ's 10 s default.
        connectTimeoutMs: 120_000,
      }),
    );
  }
  const online = fleets.flatMap((f) => f.online);
  let watching = false;
  for (const iq of online) {
    iq.waitFor((m) => {
      // The IQ acknowledges an access version in the same turn it receives it.
      if (watching && m.type === 'access')
        process.send?.({ ack: { serial: iq.serial, version: m.version, at: Date.now() } });
      return false;
    }, 24 * 3_600_000).catch(() => {});
  }
  process.on('message', async (message: { keep?: number; watch?: boolean; stop?: boolean }) => {
    if (message.keep !== undefined) {
      await Promise.all(online.slice(message.keep).map((iq) => iq.stop()));
      process.send?.({ kept: message.keep });
    }
    if (message.watch !== undefined) watching = message.watch;
    if (message.stop) {
      await Promise.all(fleets.map((f) => f.stop()));
      process.exit(0);
    }
  });
  process.send?.({ connected: online.length, failed: fleets.reduce((n, f) => n + f.failed.length, 0) });
}

class Child {
  private readonly waiting = new Set<(m: Record<string, unknown>) => void>();
  constructor(readonly process: ChildProcess) {
    process.on('message', (m: Record<string, unknown>) => {
      for (const w of this.waiting) w(m);
    });
  }
  on(listener: (m: Record<string, unknown>) => void) {
    this.waiting.add(listener);
  }
  next<T>(key: string, send?: unknown): Promise<T> {
    return new Promise((resolve) => {
      const w = (m: Record<string, unknown>) => {
        if (key in m) {
          this.waiting.delete(w);
          resolve(m[key] as T);
        }
      };
      this.waiting.add(w);
      if (send !== undefined) this.process.send(send as string);
    });
  }
}

const self = fileURLToPath(import.meta.url);
const spawnChild = (args: string[]) => new Child(fork(self, args, { execArgv: ['--import', 'tsx'] }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function bench(total: number, behind: number, changes: number, server: BenchServer) {
  const stack = await startLocalStack({ mode: 'production', server });
  console.log(`on ${stack.temporalServer}`);
  const { db } = stack.database;
  const credentialsFile = join(tmpdir(), `ks-bench-access-${randomUUID()}.json`);
  const children: Child[] = [];
  try {
    console.log(`seeding ${total} IQs in sites of ${SITE_SIZE}…`);
    const [owner] = await db
      .insert(profiles)
      .values({
        email: 'owner@bench.test',
        name: 'Bench owner',
        passwordHash: 'x',
        emailConfirmedAt: new Date(),
      })
      .returning({ id: profiles.id });
    const token = await issueBearerToken(db, owner!.id, new Date());
    const siteCount = Math.ceil(total / SITE_SIZE);
    const siteRows = await db
      .insert(sites)
      .values(Array.from({ length: siteCount }, (_, i) => ({ name: `Bench ${i}` })))
      .returning({ id: sites.id });
    await db
      .insert(memberships)
      .values(siteRows.map((s) => ({ siteId: s.id, profileId: owner!.id, role: 'owner' as const })));
    const vouchers = await issueVouchers(
      db,
      { usersLimit: 50, iqsLimit: SITE_SIZE, durationDays: 365 },
      siteCount,
    );
    // Real terms through the API and the worker (slots fill as V10 says).
    for (const [i, site] of siteRows.entries()) {
      const res = await fetch(`${stack.url}/sites/${site.id}/subscription/redemptions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ code: vouchers[i]!.code }),
      });
      if (res.status !== 200) throw new Error(`redemption answered ${res.status}: ${await res.text()}`);
    }
    const credentials: IqCredentials[] = [];
    const members: Array<{ siteId: string; profileIds: string[] }> = [];
    for (const [s, site] of siteRows.entries()) {
      const count = Math.min(SITE_SIZE, total - s * SITE_SIZE);
      const seeded = await seedIqsWithLocks(db, site.id, count, 'B');
      const people = await db
        .insert(profiles)
        .values(
          Array.from({ length: MEMBERS_PER_SITE }, (_, m) => ({
            email: `m${m}-${site.id}@bench.test`,
            name: `Member ${m}`,
            passwordHash: 'x',
            emailConfirmedAt: new Date(),
          })),
        )
        .returning({ id: profiles.id });
      await db.insert(memberships).values(
        people.map((p) => ({
          siteId: site.id,
          profileId: p.id,
          role: 'user' as const,
          subscribed: true,
          subscribedAt: new Date(),
        })),
      );
      await db.insert(accessMethods).values(
        people.map((p, m) => ({
          siteId: site.id,
          profileId: p.id,
          kind: 'tag' as const,
          tagUid: `T-${s}-${m}`,
        })),
      );
      await db.transaction((tx) => syncAccessLists(tx, { siteId: site.id }));
      members.push({ siteId: site.id, profileIds: people.map((p) => p.id) });
      credentials.push(...seeded.credentials);
    }
    await writeFile(credentialsFile, JSON.stringify(credentials), { mode: 0o600 });
    const url = stack.databaseUrl;
    const port = await freePort();

    const countIqs = async (where: string) => {
      const [row] = await stack.database.sql.unsafe(`select count(*)::int as n from iqs where ${where}`);
      return row!.n as number;
    };
    const untilAll = async (where: string, expected: number, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while ((await countIqs(where)) < expected) {
        if (Date.now() > deadline)
          throw new Error(`only ${await countIqs(where)}/${expected} IQs with ${where}`);
        await sleep(100);
      }
    };

    // 1. Everyone connects and takes its first list.
    let gateway = spawnChild(['--gateway', url, String(port)]);
    children.push(gateway);
    let instance = await gateway.next<string>('ready');
    // The rows a killed instance leaves "online" stay so until a sweep: count only the live instance's.
    const inSync = () => `gateway_instance = '${instance}' and access_acked = access_version`;
    console.log('connecting the fleet (its own process)…');
    const t1 = performance.now();
    const fleet = spawnChild(['--fleet', credentialsFile, String(port)]);
    children.push(fleet);
    const connected = await fleet.next<number>('connected');
    if (connected !== total) throw new Error(`only ${connected}/${total} simulated IQs connected`);
    await untilAll(inSync(), total, 1_200_000);
    const initialSyncSeconds = (performance.now() - t1) / 1000;
    const initial = await gateway.next<{ rss: number; statements: number }>('stats', 'stats');
    console.log(
      `  ${connected} IQs connected and in sync after ${initialSyncSeconds.toFixed(1)} s; gateway: ` +
        `${initial.statements} statements (${(initial.statements / total).toFixed(2)} per IQ), RSS ${(initial.rss / 2 ** 20).toFixed(0)} MB`,
    );

    // 2. The gateway dies; every site changes `behind` times while it is down.
    gateway.process.kill('SIGKILL');
    await new Promise((r) => gateway.process.once('exit', r));
    console.log(`gateway killed; ${behind} access changes on each of ${siteCount} sites through the API…`);
    // Grants, and revokes of the grant just before (half each); sites eight at a time, as many owners would.
    const changeSite = async (site: { siteId: string; profileIds: string[] }) => {
      let granted: string | undefined;
      for (let c = 0; c < behind; c++) {
        const profileId = site.profileIds[Math.floor(c / 2) % site.profileIds.length]!;
        const res = granted
          ? await fetch(`${stack.url}/sites/${site.siteId}/people/${profileId}/access/${granted}`, {
              method: 'DELETE',
              headers: { authorization: `Bearer ${token}` },
            })
          : await fetch(`${stack.url}/sites/${site.siteId}/people/${profileId}/access`, {
              method: 'POST',
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ kind: 'tag', tagUid: `X-${randomUUID().slice(0, 8)}` }),
            });
        if (res.status >= 300) throw new Error(`change answered ${res.status}: ${await res.text()}`);
        granted = granted ? undefined : ((await res.json()) as { id: string }).id;
      }
    };
    for (let i = 0; i < members.length; i += 8) await Promise.all(members.slice(i, i + 8).map(changeSite));
    const [lag] = await stack.database
      .sql`select min(access_version - access_acked)::int as min, max(access_version - access_acked)::int as max from iqs`;

    // 3. The gateway starts again: every IQ reconnects and catches up.
    console.log('gateway restarting; the fleet reconnects…');
    const spawned = performance.now();
    gateway = spawnChild(['--gateway', url, String(port)]);
    children.push(gateway);
    instance = await gateway.next<string>('ready');
    // From the moment the new process listens (its own start-up, tsx included, is reported apart).
    const t3 = performance.now();
    const gatewayStartSeconds = (t3 - spawned) / 1000;
    let peakRss = 0;
    const sampler = setInterval(async () => {
      peakRss = Math.max(peakRss, (await gateway.next<{ rss: number }>('stats', 'stats')).rss);
    }, 500);
    await untilAll(`gateway_instance = '${instance}'`, total, 1_200_000);
    const reconnectedSeconds = (performance.now() - t3) / 1000;
    await untilAll(inSync(), total, 1_200_000);
    const caughtUpSeconds = (performance.now() - t3) / 1000;
    clearInterval(sampler);
    const afterCatchUp = await gateway.next<{
      rss: number;
      statements: number;
      top: Record<string, number>;
    }>('stats', 'stats');
    peakRss = Math.max(peakRss, afterCatchUp.rss);
    console.log(
      `  all reconnected after ${reconnectedSeconds.toFixed(1)} s, all acked after ${caughtUpSeconds.toFixed(1)} s; gateway: ` +
        `${afterCatchUp.statements} statements (${(afterCatchUp.statements / total).toFixed(2)} per IQ), peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MB`,
    );
    const [deltas] = await stack.database.sql`select count(*)::int as n from iq_access_changes`;

    // 4. 1,000 IQs online; changes one at a time; API request to each concerned IQ's ack.
    const keep = Math.min(LATENCY_IQS, total);
    await fleet.next('kept', { keep });
    await untilAll('not online', total - keep, 60_000);
    const keptSites = members.slice(0, Math.ceil(keep / SITE_SIZE));
    const latencies: number[] = [];
    const requestMs: number[] = [];
    fleet.process.send({ watch: true });
    for (let c = 0; c < changes; c++) {
      const site = keptSites[c % keptSites.length]!;
      const profileId = site.profileIds[c % site.profileIds.length]!;
      const [row] = await stack.database
        .sql`select access_version from iqs where site_id = ${site.siteId} limit 1`;
      const next = (row!.access_version as number) + 1;
      const acks: number[] = [];
      const onAck = (m: Record<string, unknown>) => {
        const ack = m.ack as { version: number; at: number } | undefined;
        if (ack && ack.version === next) acks.push(ack.at);
      };
      fleet.on(onAck);
      const t0 = Date.now();
      const res = await fetch(`${stack.url}/sites/${site.siteId}/people/${profileId}/access`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'tag', tagUid: `L-${randomUUID().slice(0, 8)}` }),
      });
      requestMs.push(Date.now() - t0);
      if (res.status !== 201) throw new Error(`grant answered ${res.status}`);
      const deadline = Date.now() + 30_000;
      while (acks.length < SITE_SIZE && Date.now() < deadline) await sleep(5);
      latencies.push(...acks.map((at) => at - t0));
    }
    fleet.process.send({ watch: false });
    latencies.sort((x, y) => x - y);
    requestMs.sort((x, y) => x - y);

    const figures = {
      iqs: total,
      sites: siteCount,
      connected,
      firstConnect: {
        allAckedSeconds: +initialSyncSeconds.toFixed(1),
        gatewayStatements: initial.statements,
        statementsPerIq: +(initial.statements / total).toFixed(2),
      },
      behindBy: { min: lag?.min, max: lag?.max },
      restart: {
        gatewayStartSeconds: +gatewayStartSeconds.toFixed(1),
        allReconnectedSeconds: +reconnectedSeconds.toFixed(1),
        allAckedSeconds: +caughtUpSeconds.toFixed(1),
        gatewayStatements: afterCatchUp.statements,
        statementsPerIq: +(afterCatchUp.statements / total).toFixed(2),
        statementsByKind: afterCatchUp.top,
        gatewayRssMb: {
          peak: +(peakRss / 2 ** 20).toFixed(0),
          after: +(afterCatchUp.rss / 2 ** 20).toFixed(0),
        },
      },
      deltasKept: deltas?.n,
      changeToAck: {
        online: keep,
        changes,
        acks: latencies.length,
        expectedAcks: changes * SITE_SIZE,
        p50Ms: pct(latencies, 50),
        p99Ms: pct(latencies, 99),
        maxMs: latencies.at(-1) ?? 0,
        apiRequestP50Ms: pct(requestMs, 50),
      },
    };
    console.log(JSON.stringify(figures, null, 2));
    console.log(
      `RESULT access-sync iqs=${total} behind=${behind} catchupS=${figures.restart.allAckedSeconds} ` +
        `reconnectS=${figures.restart.allReconnectedSeconds} stmtsPerIq=${figures.restart.statementsPerIq} ` +
        `gatewayRssMB=${figures.restart.gatewayRssMb.peak} online=${keep} ` +
        `changeToAckP50Ms=${figures.changeToAck.p50Ms} changeToAckP99Ms=${figures.changeToAck.p99Ms} ` +
        `acks=${latencies.length}/${changes * SITE_SIZE}`,
    );
    fleet.process.send({ stop: true });
    gateway.process.send('stop');
    await Promise.all(
      children.map((c) =>
        c.process.exitCode === null ? new Promise((r) => c.process.once('exit', r)) : undefined,
      ),
    );
  } finally {
    for (const c of children) if (c.process.exitCode === null) c.process.kill('SIGKILL');
    await rm(credentialsFile, { force: true });
    await stack.stop();
  }
}

const role = process.argv[2];
if (role === '--gateway') await gatewayProcess(process.argv[3]!, Number(process.argv[4]));
else if (role === '--fleet') await fleetProcess(process.argv[3]!, Number(process.argv[4]));
else {
  const { server, args } = benchOptions();
  await bench(Number(args[0] ?? 10_000), Number(args[1] ?? 4), Number(args[2] ?? 40), server);
}
