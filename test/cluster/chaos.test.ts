/**
 * SPEC N8, shown: `npm run start:cluster` (the production topology: Temporal on PostgreSQL with one
 * process per service and history on two hosts, two APIs, two workers, two gateways) under steady
 * load loses one of each kind of process (kill -9), and all of Temporal at once, and keeps every
 * promise:
 *
 * - redemptions from several clients spread over both APIs: each answered 200 has exactly one term
 *   and one receipt, and no voucher is consumed without its term;
 * - redemptions during the Temporal restart are still answered 200 (they are claimed in PostgreSQL),
 *   and once Temporal is back every buyer's site workflow holds the database's current term;
 * - a rollout to a few hundred simulated IQs completes with every IQ succeeded;
 * - a profile deletion awaiting consent completes after the consent;
 * - the IQs of the killed gateway reconnect to the other port.
 *
 * The start script restarts a process that died, as an orchestrator would. The figures are printed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { issueBearerToken } from '../../api/auth/tokens';
import type { Database } from '../../db/client';
import { findCurrentTerm } from '../../db/queries/subscriptions';
import { issueVouchers } from '../../db/queries/vouchers';
import { accessMethods, memberships, profiles, sites } from '../../db/schema';
import { freePort } from '../../infra/free-port';
import { clusterBinariesAvailable } from '../../infra/temporal-cluster';
import { type Fleet, startFleet } from '../../iq-sim/fleet';
import { querySubscriptionState } from '../../workflows/client/subscription';
import { eventually, seedSiteWithIqs } from '../gateway/helpers';
import { createTestDatabase } from '../support/database';
import { groupMembers, pressCtrlC, processesLeftUsing } from '../support/process-group';

const available = await clusterBinariesAvailable();

const TOKEN_SECRET = 'cluster-chaos-secret-that-is-long-enough-0123456789';
const BASE_URL = 'http://cluster.test';
const CLIENTS = 6;
const VOUCHERS_PER_CLIENT = 200;
const FLEET = 300;
const ROLLOUT_POLICY = {
  canarySize: 5,
  growthFactor: 2,
  maxConcurrent: 50,
  // Only exhausted retries fail an IQ here; the kills must not abort the rollout on their own.
  minFinishedBeforeAbort: 10_000,
  inProgressTimeoutSeconds: 30,
  retries: 5,
  offlineDeadlineSeconds: 600,
};
const UPDATE = { durationMs: 1_500 };

interface Started {
  child: ChildProcess;
  output: string[];
  lines: Array<Record<string, unknown>>;
}

let dataDir: string;
let database: Database & { url: string };
let cluster: Started | undefined;
let ports: { api: [number, number]; temporal: number; ui: number; gateway: [number, number] };
const fleets: Fleet[] = [];
const t0 = Date.now();
const at = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Two consecutive free ports (the cluster's APIs listen on PORT and PORT+1). */
async function freePair(): Promise<[number, number]> {
  for (;;) {
    const port = await freePort();
    const next = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port + 1, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (next) return [port, port + 1];
  }
}

function startCluster(): Promise<Started> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KS_DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    TOKEN_SECRET,
    PUBLIC_BASE_URL: BASE_URL,
    PORT: String(ports.api[0]),
    TEMPORAL_PORT: String(ports.temporal),
    TEMPORAL_UI_PORT: String(ports.ui),
    GATEWAY_PORTS: ports.gateway.join(','),
    // Every simulated IQ connects from 127.0.0.1.
    GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: String(10 * FLEET),
    LOG_LEVEL: 'info',
    // The run's bundle: the workers (and their restarts) skip bundling.
    WORKFLOW_BUNDLE: inject('workflowBundlePath'),
  };
  for (const key of Object.keys(env)) if (key.startsWith('TEMPORAL_ADDRESS')) delete env[key];
  // Its own process group, so Ctrl-C (SIGINT to the group) reaches everything it runs.
  const child = spawn('npm', ['run', 'start:cluster'], {
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started: Started = { child, output: [], lines: [] };
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      rest += chunk.toString();
      const parts = rest.split('\n');
      rest = parts.pop()!;
      for (const line of parts) {
        started.output.push(line);
        if (line.startsWith('{')) {
          try {
            started.lines.push(JSON.parse(line));
          } catch {
            // a line cut by a killed process
          }
        }
      }
    });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`start:cluster did not come up:\n${started.output.slice(-60).join('\n')}`)),
      300_000,
    );
    const check = setInterval(() => {
      if (started.output.some((line) => line.includes('KS Cloud is running as a cluster'))) {
        clearTimeout(timer);
        clearInterval(check);
        resolve(started);
      }
    }, 200);
    child.once('exit', (code) => {
      clearTimeout(timer);
      clearInterval(check);
      reject(new Error(`start:cluster exited (${code}):\n${started.output.slice(-60).join('\n')}`));
    });
  });
}

/** The pid of the newest process of a kind the cluster logged as ready (its JSON log line). */
function pidOf(kind: 'api' | 'gateway' | 'worker', match: (line: Record<string, unknown>) => boolean) {
  const line = cluster!.lines.findLast(
    (l) =>
      l.process === kind &&
      typeof l.msg === 'string' &&
      /^(listening|instance|polling)/.test(l.msg) &&
      match(l),
  );
  if (!line) throw new Error(`no ${kind} process in the log`);
  return line as { pid: number; instanceId?: string };
}

/** Waits until a process of that kind other than `pid` logs that it is ready again. */
async function restartedAfter(
  kind: 'api' | 'gateway' | 'worker',
  pid: number,
  match: (l: Record<string, unknown>) => boolean,
) {
  const started = Date.now();
  await eventually(() => expect(pidOf(kind, match).pid).not.toBe(pid), 120_000);
  return Date.now() - started;
}

/** The Temporal server processes of this cluster (the UI server is another binary). */
function temporalPids(): number[] {
  try {
    return execFileSync('pgrep', ['-a', '-x', 'temporal-server'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter((line) => line.includes(dataDir))
      .map((line) => Number(line.split(' ')[0]));
  } catch {
    return [];
  }
}

const api = (port: number, path: string, init: RequestInit & { token?: string } = {}) =>
  fetch(`http://127.0.0.1:${port}${path}`, {
    ...init,
    headers: {
      'content-type': 'application/json',
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.headers as Record<string, string> | undefined),
    },
  });

async function newProfile(name: string, platformRole?: 'support') {
  const [row] = await database.db
    .insert(profiles)
    .values({
      email: `${randomUUID()}@chaos.test`,
      name,
      passwordHash: 'unused',
      emailConfirmedAt: new Date(),
      ...(platformRole ? { platformRole } : {}),
    })
    .returning();
  return { ...row!, token: await issueBearerToken(database.db, row!.id, new Date()) };
}

async function newSite(ownerId: string) {
  const [site] = await database.db
    .insert(sites)
    .values({ name: `Chaos ${randomUUID().slice(0, 8)}` })
    .returning();
  await database.db
    .insert(memberships)
    .values({ siteId: site!.id, profileId: ownerId, role: 'owner', masterKey: true });
  return site!;
}

// ---------------------------------------------------------------------------------------------
// Load: redemptions
// ---------------------------------------------------------------------------------------------

interface Redemption {
  client: number;
  voucherId: string;
  code: string;
  /** The term the 200 answer named. */
  term?: { startsAt: string; endsAt: string };
  attempts: number;
  got503: number;
  retryAfter: string[];
  connectionErrors: number;
  unexpected: string[];
  answeredAt?: number;
}

const redemptions: Redemption[] = [];
/** The buyers' sites, one per client. */
const buyerSites: string[] = [];
/** Every voucher issued to the clients (the demo has vouchers of its own in the same database). */
const voucherIds: string[] = [];
/** Answers by time: for the downtime figures. */
const timeline: Array<{ at: number; status: number | 'error' }> = [];
let loadRunning = true;

/**
 * One client: redeems its vouchers one after the other on its site, each with an Idempotency-Key,
 * alternating between the two APIs. A 503 is retried after its Retry-After (as a client should), a
 * connection refused (a dead API) at once on the other API; a retry reuses the key.
 */
async function client(
  index: number,
  siteId: string,
  token: string,
  vouchers: Array<{ id: string; code: string }>,
) {
  let turn = index;
  for (const { id: voucherId, code } of vouchers) {
    if (!loadRunning) return;
    const r: Redemption = {
      client: index,
      voucherId,
      code,
      attempts: 0,
      got503: 0,
      retryAfter: [],
      connectionErrors: 0,
      unexpected: [],
    };
    redemptions.push(r);
    const key = randomUUID();
    for (;;) {
      const port = ports.api[turn++ % 2]!;
      r.attempts++;
      let res: Response;
      try {
        res = await api(port, `/sites/${siteId}/subscription/redemptions`, {
          method: 'POST',
          token,
          headers: { 'idempotency-key': key },
          body: JSON.stringify({ code }),
        });
      } catch {
        r.connectionErrors++;
        timeline.push({ at: Date.now(), status: 'error' });
        await sleep(100);
        continue;
      }
      timeline.push({ at: Date.now(), status: res.status });
      if (res.status === 200) {
        r.term = ((await res.json()) as { term: { startsAt: string; endsAt: string } }).term;
        r.answeredAt = Date.now();
        break;
      }
      const body = await res.text();
      if (res.status === 503) {
        r.got503++;
        const retryAfter = res.headers.get('retry-after');
        r.retryAfter.push(retryAfter ?? 'missing');
        await sleep(Math.min(Number(retryAfter) || 1, 5) * 1000);
        continue;
      }
      r.unexpected.push(`${res.status} ${body.slice(0, 200)}`);
      break;
    }
    await sleep(150);
  }
}

// ---------------------------------------------------------------------------------------------

const figures: string[] = [];
const say = (line: string) => {
  figures.push(line);
  console.log(`[chaos ${at()}] ${line}`);
};

let support: Awaited<ReturnType<typeof newProfile>>;
let rolloutId: string;
let rolloutStarted: number;
let rolloutSiteId: string;
let deletion: { id: string; personId: string; siteId: string; consentedAt?: number };
let killedGateway: { instanceId: string; iqs: string[]; reconnectMs?: number };
let temporalOutage: {
  killedAt: number;
  pids: number;
  readyAfter?: number;
  /** Answers between the kill and both APIs' readiness, by status. */
  whileDown?: Record<string, number>;
};
let load: Promise<unknown>;

beforeAll(async () => {
  if (!available) return;
  dataDir = await mkdtemp(join(tmpdir(), 'ks-chaos-'));
  await chmod(dataDir, 0o755);
  database = await createTestDatabase();
  ports = {
    api: await freePair(),
    temporal: await freePort(),
    ui: await freePort(),
    gateway: [await freePort(), await freePort()],
  };
  const started = Date.now();
  cluster = await startCluster();
  say(
    `cluster up in ${seconds(Date.now() - started)}: APIs :${ports.api.join(', :')}, gateways :${ports.gateway.join(', :')}`,
  );
}, 360_000);

afterAll(async () => {
  loadRunning = false;
  await Promise.all(fleets.map((f) => f.stop()));
  if (cluster && groupMembers(cluster.child.pid!) !== '') await pressCtrlC(cluster.child.pid!);
  await database?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 120_000);

describe.skipIf(!available)('the production topology loses any one part and keeps every promise (N8)', () => {
  it('runs under load while an API, a worker, a gateway and the whole Temporal server are killed', async () => {
    const [port1, port2] = ports.api;
    support = await newProfile('Sam Support', 'support');

    // A profile deletion awaiting its owner's consent.
    const owner = await newProfile('Olga Owner');
    const site = await newSite(owner.id);
    const person = await newProfile('Ada Deletable');
    await database.db.insert(memberships).values({ siteId: site.id, profileId: person.id, role: 'user' });
    await database.db.insert(accessMethods).values({ siteId: site.id, profileId: person.id, kind: 'remote' });
    const filed = await api(port1, '/support/profile-deletions', {
      method: 'POST',
      token: support.token,
      body: JSON.stringify({ email: person.email }),
    });
    expect(filed.status).toBe(202);
    deletion = { id: ((await filed.json()) as { id: string }).id, personId: person.id, siteId: site.id };

    // A rollout over FLEET simulated IQs, half connected to each gateway first.
    const seeded = await seedSiteWithIqs(database.db, FLEET, { name: 'Chaos fleet' });
    rolloutSiteId = seeded.siteId;
    const credentials = seeded.iqs.map((iq) => iq.credentials);
    const half = FLEET / 2;
    for (const [slice, order] of [
      [credentials.slice(0, half), ports.gateway],
      [credentials.slice(half), [...ports.gateway].reverse()],
    ] as const) {
      const fleet = await startFleet({
        credentials: slice,
        ports: [...order],
        host: '127.0.0.1',
        update: UPDATE,
      });
      fleets.push(fleet);
      expect(fleet.failed).toEqual([]);
    }
    const release = await api(port2, '/support/firmware-releases', {
      method: 'POST',
      token: support.token,
      body: JSON.stringify({
        model: 'IQ2',
        version: '9.0.0',
        url: 'ftps://files.chaos.test/iq2-9.0.0.bin',
        sha256: 'c'.repeat(64),
        sizeBytes: 1024,
      }),
    });
    expect(release.status).toBe(201);
    const created = await api(port1, '/support/rollouts', {
      method: 'POST',
      token: support.token,
      body: JSON.stringify({
        releaseId: ((await release.json()) as { id: string }).id,
        target: { siteIds: [rolloutSiteId] },
        policy: ROLLOUT_POLICY,
      }),
    });
    expect(created.status).toBe(201);
    rolloutId = ((await created.json()) as { id: string }).id;
    rolloutStarted = Date.now();

    // Steady redemptions from CLIENTS clients, each on its own site, over both APIs.
    const workers = [];
    for (let i = 0; i < CLIENTS; i++) {
      const buyer = await newProfile(`Buyer ${i}`);
      const buyerSite = await newSite(buyer.id);
      const codes = await issueVouchers(
        database.db,
        { usersLimit: 10, iqsLimit: 2, durationDays: 30 },
        VOUCHERS_PER_CLIENT,
      );
      voucherIds.push(...codes.map((c) => c.id));
      buyerSites.push(buyerSite.id);
      workers.push(client(i, buyerSite.id, buyer.token, codes));
    }
    load = Promise.all(workers);
    say(
      `load: ${CLIENTS} clients redeeming over both APIs; rollout to ${FLEET} IQs; deletion awaiting consent`,
    );

    await eventually(async () => {
      const counts = await rolloutCounts();
      expect(counts.succeeded).toBeGreaterThanOrEqual(5);
      expect(counts.inProgress).toBeGreaterThan(0);
    }, 120_000);

    // kill -9 one API, one worker and one gateway, a few seconds apart; the start script starts each
    // again (a cold start of a TypeScript process takes tens of seconds on this machine).
    const restarts: Array<Promise<void>> = [];
    const watchRestart = (
      name: string,
      kind: 'api' | 'gateway' | 'worker',
      pid: number,
      match: (l: Record<string, unknown>) => boolean,
    ) =>
      restarts.push(
        restartedAfter(kind, pid, match).then((ms) =>
          say(`${name} back (new process ready) ${seconds(ms)} after the kill`),
        ),
      );

    // The API: its requests fail over to the other.
    const apiPid = pidOf('api', (l) => l.port === port1).pid;
    process.kill(apiPid, 'SIGKILL');
    say(`killed api-1 (pid ${apiPid})`);
    watchRestart('api-1', 'api', apiPid, (l) => l.port === port1);
    await sleep(5_000);

    // A worker: the other takes its tasks; its started activities are retried after their timeout.
    const workerPid = pidOf('worker', () => true).pid;
    process.kill(workerPid, 'SIGKILL');
    say(`killed a worker (pid ${workerPid})`);
    watchRestart('the worker', 'worker', workerPid, () => true);
    await sleep(5_000);

    // The gateway on the first port: its IQs try the next port, the other gateway.
    const onPort = (port: number) => (l: Record<string, unknown>) => (l.ports as number[])[0] === port;
    const gateway1 = pidOf('gateway', onPort(ports.gateway[0]));
    const gateway2 = pidOf('gateway', onPort(ports.gateway[1]));
    const onGateway1 = await database.sql<{ id: string }[]>`
      select id from iqs where site_id = ${rolloutSiteId} and online and gateway_instance = ${gateway1.instanceId!}`;
    process.kill(gateway1.pid, 'SIGKILL');
    const gatewayKilledAt = Date.now();
    killedGateway = { instanceId: gateway1.instanceId!, iqs: onGateway1.map((r) => r.id) };
    say(`killed gateway-1 (pid ${gateway1.pid}) holding ${onGateway1.length} IQs`);
    watchRestart('gateway-1', 'gateway', gateway1.pid, onPort(ports.gateway[0]));
    await eventually(async () => {
      const moved = await database.sql<{ n: number }[]>`
        select count(*)::int as n from iqs where id in ${database.sql(killedGateway.iqs)}
          and online and gateway_instance = ${gateway2.instanceId!}`;
      expect(moved[0]!.n).toBe(killedGateway.iqs.length);
    }, 120_000);
    killedGateway.reconnectMs = Date.now() - gatewayKilledAt;
    say(
      `all ${killedGateway.iqs.length} IQs of gateway-1 online on gateway-2 (port ${ports.gateway[1]}) after ${seconds(killedGateway.reconnectMs)}`,
    );
    await Promise.all(restarts);

    // The whole Temporal server at once (kill -9 of every service process); the start script
    // starts each again. Meanwhile redemptions are still claimed and answered; their workflows are
    // told by the relays once Temporal is back.
    const pids = temporalPids();
    expect(pids).toHaveLength(5);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    temporalOutage = { killedAt: Date.now(), pids: pids.length };
    say(`killed the Temporal server: ${pids.length} processes (frontend, 2 history, matching, worker)`);
    await eventually(async () => {
      const health = await Promise.all(ports.api.map((p) => api(p, '/health').then((r) => r.status)));
      expect(health).toEqual([200, 200]);
    }, 180_000);
    temporalOutage.readyAfter = Date.now() - temporalOutage.killedAt;
    const { killedAt, readyAfter } = temporalOutage;
    const whileDown: Record<string, number> = {};
    for (const e of timeline.filter((e) => e.at > killedAt && e.at < killedAt + readyAfter)) {
      whileDown[String(e.status)] = (whileDown[String(e.status)] ?? 0) + 1;
    }
    temporalOutage.whileDown = whileDown;
    say(
      `Temporal: both APIs ready (GET /health 200) ${seconds(readyAfter)} after the kill; redemption answers meanwhile: ${JSON.stringify(whileDown)}`,
    );

    // Some load on the restarted cluster, then the owner consents and the load stops.
    await sleep(10_000);
    const token = await consentToken();
    const consent = await api(port2, `/consents/${token}`, {
      method: 'POST',
      body: 'decision=approve',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(consent.status).toBe(200);
    deletion.consentedAt = Date.now();
    loadRunning = false;
    await load;
    say(`load stopped after ${redemptions.length} redemptions`);
  }, 900_000);

  it('answered every redemption 200 in the end: no other status, one term and one receipt each', async () => {
    const answered = redemptions.filter((r) => r.term);
    const unexpected = redemptions.flatMap((r) => r.unexpected);
    const connectionErrors = redemptions.reduce((n, r) => n + r.connectionErrors, 0);
    const got503 = redemptions.filter((r) => r.got503 > 0);
    say(
      `redemptions: ${redemptions.length} (requests ${redemptions.reduce((n, r) => n + r.attempts, 0)}), answered 200: ${answered.length}, 503 answers: ${got503.reduce((n, r) => n + r.got503, 0)} on ${got503.length} redemptions, connection errors (killed API): ${connectionErrors}, other answers: ${unexpected.length}`,
    );
    expect(unexpected).toEqual([]);
    expect(answered).toHaveLength(redemptions.length);

    // Each answer's voucher made exactly one term, the one the answer named.
    const terms = await database.sql<{ id: string; voucher_id: string; ends_at: Date | string }[]>`
      select id, voucher_id, ends_at from subscription_terms
      where voucher_id in ${database.sql(answered.map((r) => r.voucherId))}`;
    const mismatched = answered.filter((r) => {
      const made = terms.filter((t) => t.voucher_id === r.voucherId);
      return made.length !== 1 || new Date(made[0]!.ends_at).getTime() !== new Date(r.term!.endsAt).getTime();
    });
    expect(mismatched).toEqual([]);
    // Receipts are sent after the answer, durably: wait for the last ones.
    const keys = terms.map((t) => `receipt:${t.id}`);
    let receipts: Array<{ key: string; n: number }> = [];
    await eventually(async () => {
      receipts = await database.sql<{ key: string; n: number }[]>`
        select idempotency_key as key, count(*)::int as n from sent_emails
        where idempotency_key in ${database.sql(keys)} group by idempotency_key`;
      expect(receipts).toHaveLength(keys.length);
    }, 180_000);
    expect(receipts.every((r) => r.n === 1)).toBe(true);
    say(
      `${terms.length} terms and ${receipts.length} receipts for ${answered.length} redemptions answered 200`,
    );
  });

  it('consumed no voucher without its term, and none twice', async () => {
    const [row] = await database.sql<{ consumed: number; without_term: number; terms: number }[]>`
      select count(*) filter (where redeemed_at is not null)::int as consumed,
        count(*) filter (where redeemed_at is not null and not exists
          (select 1 from subscription_terms t where t.voucher_id = v.id))::int as without_term,
        (select count(*)::int from subscription_terms t where t.voucher_id in ${database.sql(voucherIds)}) as terms
      from vouchers v where v.id in ${database.sql(voucherIds)}`;
    say(`vouchers consumed: ${row!.consumed}, without a term: ${row!.without_term}`);
    expect(row!.without_term).toBe(0);
    expect(row!.consumed).toBe(redemptions.length);
    expect(row!.terms).toBe(row!.consumed);
  });

  it('answered redemptions while Temporal was down, and every buyer’s workflow then holds the database’s term', async () => {
    expect(temporalOutage.whileDown?.['200'] ?? 0).toBeGreaterThan(0);
    const connection = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
    try {
      const temporal = new Client({ connection });
      for (const siteId of buyerSites) {
        await eventually(async () => {
          const current = await findCurrentTerm(database.db, siteId);
          const state = await querySubscriptionState(temporal, siteId);
          expect(state.term?.id).toBe(current?.id);
          expect(state.status).toBe('active');
        }, 60_000);
      }
      say(`the workflows of all ${buyerSites.length} buyers' sites hold their database term`);
    } finally {
      await connection.close();
    }
  });

  it('completed the rollout with every IQ succeeded', async () => {
    await eventually(async () => expect((await rollout()).status).toBe('completed'), 300_000);
    const counts = await rolloutCounts();
    const [attempts] = await database.sql<{ sent: number; retried: number }[]>`
      select coalesce(sum(attempts), 0)::int as sent, count(*) filter (where attempts > 1)::int as retried
      from rollout_targets where rollout_id = ${rolloutId}`;
    say(
      `rollout: ${FLEET} IQs, completed in ${seconds(Date.now() - rolloutStarted)}, succeeded ${counts.succeeded}, update commands ${attempts!.sent} (${attempts!.retried} IQs needed a retry)`,
    );
    expect(counts).toEqual({
      queued: 0,
      inProgress: 0,
      succeeded: FLEET,
      failed: 0,
      timedOut: 0,
      skipped: 0,
      canceled: 0,
    });
    const versions = await database.sql`select distinct firmware from iqs where site_id = ${rolloutSiteId}`;
    expect(versions.map((v) => v.firmware)).toEqual(['9.0.0']);
  });

  it('completed the profile deletion after the consent', async () => {
    await eventually(async () => {
      const res = await api(ports.api[0], `/support/profile-deletions/${deletion.id}`, {
        token: support.token,
      });
      expect(((await res.json()) as { status: string }).status).toBe('completed');
    }, 180_000);
    say(`deletion completed ${seconds(Date.now() - deletion.consentedAt!)} (at most) after the consent`);
    const left = await database.sql`select 1 from profiles where id = ${deletion.personId}`;
    expect(left).toHaveLength(0);
  });

  it('moved the IQs of the killed gateway to the other port', () => {
    expect(killedGateway.iqs.length).toBeGreaterThan(0);
    expect(killedGateway.reconnectMs).toBeDefined();
  });

  it('exported metrics from every product process', async () => {
    const banner = cluster!.output.find((line) => line.trim().startsWith('Metrics'))!;
    const metricPorts = Object.fromEntries(
      [...banner.matchAll(/(\w+-\d) :(\d+)/g)].map((m) => [m[1]!, Number(m[2])]),
    );
    const scrape = (name: string) =>
      fetch(`http://127.0.0.1:${metricPorts[name]}/metrics`).then((r) => r.text());
    const api2 = await scrape('api-2');
    const served503 = [...api2.matchAll(/http_requests_total\{[^}]*status="503"\} (\d+)/g)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    expect(api2).toMatch(
      /http_request_duration_seconds_bucket\{[^}]*route="\/sites\/:siteId\/subscription\/redemptions"/,
    );
    const gateway2 = await scrape('gateway-2');
    const connected = Number(/gateway_connected_iqs (\d+)/.exec(gateway2)?.[1]);
    expect(connected).toBeGreaterThan(0);
    // The SDK's own names, from its core's exporter, for the product's task queue.
    for (const worker of ['worker-1', 'worker-2']) {
      expect(await scrape(worker)).toMatch(/^temporal_\w+\{[^}]*task_queue="ks-cloud"/m);
    }
    // The relays recovered from the kills: every outbox empties once the chaos is over.
    let backlog: string[] = [];
    await eventually(async () => {
      const text = await scrape('api-2');
      backlog = [...text.matchAll(/^outbox_queued_rows\{outbox="(\w+)"\} (\S+)$/gm)].map(
        (m) => `${m[1]} ${m[2]}`,
      );
      expect(backlog.sort()).toEqual([
        'account_emails 0',
        'notification_outbox 0',
        'redemption_announcements 0',
      ]);
      expect(text).toMatch(/^outbox_oldest_row_age_seconds\{outbox="redemption_announcements"\} 0$/m);
    }, 60_000);
    say(
      `metrics: api-2 served ${served503} 503s; gateway-2 holds ${connected} IQs; workers export the SDK's temporal_* metrics; outboxes: ${backlog.join(', ')}`,
    );
  });

  it('stops every process on Ctrl-C', async () => {
    await Promise.all(fleets.map((f) => f.stop()));
    expect(await pressCtrlC(cluster!.child.pid!, 90_000)).toBe('');
    expect(await processesLeftUsing(dataDir)).toBe('');
    console.log(`\nCluster chaos figures (SPEC N8):\n${figures.map((f) => `  ${f}`).join('\n')}\n`);
  }, 120_000);
});

async function rollout() {
  const res = await api(ports.api[1], `/support/rollouts/${rolloutId}`, { token: support.token });
  expect(res.status).toBe(200);
  return (await res.json()) as { status: string; counts: Record<string, number> };
}

async function rolloutCounts() {
  return (await rollout()).counts;
}

/** The consent link's token in the email to the owner. */
async function consentToken(): Promise<string> {
  let token = '';
  await eventually(async () => {
    const rows = await database.sql<{ text: string }[]>`
      select text from sent_emails where idempotency_key = ${`deletion-consent-request:${deletion.id}:${deletion.siteId}`}`;
    const match = rows[0] && new RegExp(`${BASE_URL}/consents/([A-Za-z0-9_-]{43})`).exec(rows[0].text);
    expect(match?.[1]).toBeDefined();
    token = match![1]!;
  }, 120_000);
  return token;
}
