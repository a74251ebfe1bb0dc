/**
 * bench/api-load (issue 7 item 5): many concurrent clients drive the main read and write endpoints
 * for a fixed time against a real stack (PostgreSQL, Temporal dev server or cluster, worker, HTTP API on a free
 * port: bench/local-stack.ts); prints throughput, p50/p99 latency and errors (must be zero) per
 * endpoint and for a mix. In the same run, a bare Hono route doing one `select 1` through the same
 * pool, served by @hono/node-server, gives the floor; the ratio says what the product costs on top.
 * Clients are keep-alive fetch loops in this process (the same client for the product and the floor).
 *
 * Run: npx tsx bench/api-load.ts [secondsPerScenario=8] [clients=64] [--server dev|cluster]
 */
import { serve } from '@hono/node-server';

import { Hono } from 'hono';
import { hashPassword } from '../api/auth/passwords';
import { issueBearerToken } from '../api/auth/tokens';
import { events, memberships, profiles, sites } from '../db/schema';
import { freePort } from '../infra/free-port';
import { startLocalStack } from './local-stack';
import { summarize } from './stats';
import { benchOptions } from './temporal-server';

const { server, args } = benchOptions();
const seconds = Number(args[0] ?? 8);
const clients = Number(args[1] ?? 64);
const SITES = clients;
const MEMBERS_PER_SITE = 10;
const EVENTS_PER_SITE = 200;
const PASSWORD = 'bench-password-123';

const stack = await startLocalStack({ server });
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
const bareUrl = `http://127.0.0.1:${barePort}`;

interface Request {
  method: string;
  path: string;
  body?: unknown;
}
type Scenario = (client: number, n: number) => Request;

const json = (r: Request, token?: string): RequestInit => ({
  method: r.method,
  headers: {
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}),
  },
  ...(r.body !== undefined ? { body: JSON.stringify(r.body) } : {}),
});

const scenarios: Record<string, Scenario> = {
  'POST /auth/login': (c) => ({
    method: 'POST',
    path: '/auth/login',
    body: { email: owners[c]!.email, password: PASSWORD },
  }),
  'GET /me': () => ({ method: 'GET', path: '/me' }),
  'GET /sites/{id}/subscription': (c) => ({ method: 'GET', path: `/sites/${siteRows[c]!.id}/subscription` }),
  'GET /sites/{id}/events': (c) => ({ method: 'GET', path: `/sites/${siteRows[c]!.id}/events?limit=50` }),
  'GET /sites/{id}/people': (c) => ({ method: 'GET', path: `/sites/${siteRows[c]!.id}/people` }),
  'PATCH /me': (c, n) => ({ method: 'PATCH', path: '/me', body: { name: `Owner ${c} v${n}` } }),
  'PUT /sites/{id}/notifications': (c, n) => ({
    method: 'PUT',
    path: `/sites/${siteRows[c]!.id}/notifications`,
    body: { eventTypes: n % 2 ? ['tamper'] : ['tamper', 'lock.open_refused'] },
  }),
};
const mixNames = Object.keys(scenarios).filter((n) => n !== 'POST /auth/login');
// Mostly reads, some writes: me 20%, subscription 20%, events 20%, people 20%, PATCH me 10%, PUT notifications 10%.
const mixWeights = [2, 2, 2, 2, 1, 1];
const mixTable = mixNames.flatMap((name, i) => Array<string>(mixWeights[i]!).fill(name));
scenarios.mix = (c, n) => scenarios[mixTable[(n + c) % mixTable.length]!]!(c, n);

async function drive(base: string, scenario: Scenario, durationS: number, auth: boolean) {
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  const deadline = performance.now() + durationS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let n = 0; performance.now() < deadline; n++) {
        const r = scenario(c, n);
        const t0 = performance.now();
        try {
          const res = await fetch(base + r.path, json(r, auth ? tokens[c] : undefined));
          await res.arrayBuffer();
          latencies.push(performance.now() - t0);
          if (res.status >= 400) {
            const key = `${r.method} ${r.path.replace(/[0-9a-f-]{36}/g, '{id}')} → ${res.status}`;
            errors.set(key, (errors.get(key) ?? 0) + 1);
          }
        } catch (error) {
          const key = `network: ${(error as Error).message}`;
          errors.set(key, (errors.get(key) ?? 0) + 1);
        }
      }
    }),
  );
  return { ...summarize(latencies, performance.now() - started), errors };
}

const fmt = (s: Awaited<ReturnType<typeof drive>>) =>
  `${s.perSecond.toFixed(0).padStart(6)} req/s   p50 ${s.p50.toFixed(1).padStart(6)} ms   p99 ${s.p99.toFixed(1).padStart(6)} ms   ` +
  `${String(s.count).padStart(7)} requests   errors ${[...s.errors.values()].reduce((a, b) => a + b, 0)}`;

// Warm up both servers (JIT, pools, prepared statements).
await drive(stack.url, scenarios.mix!, 2, true);
await drive(bareUrl, () => ({ method: 'GET', path: '/bare' }), 2, false);

const results: Array<[string, Awaited<ReturnType<typeof drive>>]> = [];
const floor = await drive(bareUrl, () => ({ method: 'GET', path: '/bare' }), seconds, false);
results.push(['bare Hono + select 1 (floor)', floor]);
for (const [name, scenario] of Object.entries(scenarios)) {
  results.push([name, await drive(stack.url, scenario, seconds, name !== 'POST /auth/login')]);
}

console.log(
  `\n[api-load] ${clients} concurrent clients, ${seconds} s each, Node ${process.version}, ${stack.temporalServer}`,
);
console.log(
  `${'scenario'.padEnd(34)} throughput, latency, errors                                 ratio to floor`,
);
let totalErrors = 0;
for (const [name, s] of results) {
  const errs = [...s.errors.values()].reduce((a, b) => a + b, 0);
  totalErrors += errs;
  console.log(`${name.padEnd(34)} ${fmt(s)}   ${(s.perSecond / floor.perSecond).toFixed(3)}`);
  for (const [key, count] of s.errors) console.log(`    ${count} × ${key}`);
}
console.log(
  `\n[api-load] server-side: ${stack.served.requests} requests answered, ${stack.served.serverErrors} with 5xx; ` +
    `errors seen by clients: ${totalErrors}`,
);

bareServer.close();
await stack.stop();
process.exit(totalErrors === 0 && stack.served.serverErrors === 0 ? 0 : 1);
