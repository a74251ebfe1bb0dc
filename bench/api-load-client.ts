/**
 * The load generator of bench/api-load, run as its own process (never beside the system under test):
 * `node --import tsx bench/api-load-client.ts <job.json> <scenario> <seconds>`. Keep-alive fetch loops,
 * one per client, for `seconds`; prints one JSON line with each group's throughput, p50, p99 and
 * failures. Every client speaks from an address of its own through the trusted proxy (the stack trusts
 * 127.0.0.1, which sends X-Forwarded-For), so per-address throttles count one client each, as they
 * would for people behind a load balancer: the bench measures speed, not the limiter.
 *
 * Scenarios: each of `SCENARIOS` alone on `clients` clients; `mix`;
 * `login-storm` (GET /me on `clients` clients while `stormLogins` more clients log in, in a loop).
 * `<scenario>+floor`: the scenario and the floor (the bare route), `seconds` each, in pairs of slices
 * of about 2 s whose order alternates (floor first, then the scenario first, ...): a machine whose
 * speed drifts during the run weighs on both alike. Both are reported, each over all of its slices.
 * Each slice's start and end go to stdout as a `boundary` line with this process's CPU so far, and
 * the next slice waits for a line on stdin: the bench reads the other parts' CPU in between.
 */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { type ApiLoadJob, type Scenario, scenarios } from './api-load-scenarios';
import { clientAddress } from './client-addresses';
import { summarize, turns } from './stats';

interface Driven {
  latencies: number[];
  wallMs: number;
  failed: Record<string, number>;
}

async function drive(
  base: string,
  scenario: Scenario,
  opts: { clients: number; firstClient: number; deadline: number; tokens: string[] },
): Promise<Driven> {
  const latencies: number[] = [];
  const failed: Record<string, number> = {};
  const started = performance.now();
  await Promise.all(
    Array.from({ length: opts.clients }, async (_, i) => {
      const c = opts.firstClient + i;
      for (let n = 0; performance.now() < opts.deadline; n++) {
        const r = scenario(c, n);
        const headers: Record<string, string> = { 'x-forwarded-for': clientAddress(c) };
        if (r.auth) headers.authorization = `Bearer ${opts.tokens[c % opts.tokens.length]}`;
        if (r.body !== undefined) headers['content-type'] = 'application/json';
        const t0 = performance.now();
        try {
          const res = await fetch(base + r.path, {
            method: r.method,
            headers,
            ...(r.body !== undefined ? { body: JSON.stringify(r.body) } : {}),
          });
          const text = await res.text();
          latencies.push(performance.now() - t0);
          if (res.status >= 400) {
            const code = (JSON.parse(text) as { code?: string }).code ?? '';
            const key = `${r.method} ${r.path.replace(/[0-9a-f-]{36}/g, '{id}')} → ${res.status} ${code}`;
            failed[key] = (failed[key] ?? 0) + 1;
          }
        } catch (error) {
          const key = `network: ${(error as Error).message}`;
          failed[key] = (failed[key] ?? 0) + 1;
        }
      }
    }),
  );
  return { latencies, wallMs: performance.now() - started, failed };
}

/** One group's figures over the slices it ran in. */
function figures(parts: Driven[]) {
  const failed: Record<string, number> = {};
  for (const part of parts) {
    for (const [key, count] of Object.entries(part.failed)) failed[key] = (failed[key] ?? 0) + count;
  }
  const wallMs = parts.reduce((sum, part) => sum + part.wallMs, 0);
  return {
    ...summarize(
      parts.flatMap((part) => part.latencies),
      wallMs,
    ),
    failed,
  };
}

const [jobPath, name, secondsArg] = process.argv.slice(2);
if (!jobPath || !name || !secondsArg)
  throw new Error('usage: api-load-client.ts <job.json> <scenario>[+floor] <seconds>');
const job = JSON.parse(await readFile(jobPath, 'utf8')) as ApiLoadJob;
const seconds = Number(secondsArg);
const tokens = job.owners.map((o) => o.token);
const all = scenarios(job);
const run = (base: string, scenario: Scenario, clients: number, forSeconds = seconds, firstClient = 0) =>
  drive(base, scenario, { clients, firstClient, deadline: performance.now() + forSeconds * 1000, tokens });
/** The floor: the bare route beside the stack (bench/api-load.ts). */
const bare: Scenario = () => ({ method: 'GET', path: '/bare', auth: false });
const named = (scenarioName: string) => {
  const scenario = all[scenarioName];
  if (!scenario) throw new Error(`no scenario "${scenarioName}"`);
  return scenario;
};

let groups: Record<string, ReturnType<typeof figures>>;
if (name === 'login-storm') {
  // The logins come from clients (and addresses) of their own, after the readers' range.
  const [me, logins] = await Promise.all([
    run(job.url, all['GET /me']!, job.clients),
    run(job.url, all['POST /auth/login']!, job.stormLogins, seconds, job.clients),
  ]);
  groups = { 'GET /me': figures([me]), 'POST /auth/login': figures([logins]) };
} else if (name.endsWith('+floor')) {
  const scenarioName = name.slice(0, -'+floor'.length);
  const scenario = named(scenarioName);
  const { order, turnSeconds } = turns(seconds, 'floor' as const, 'product' as const);
  const product: Driven[] = [];
  const floors: Driven[] = [];
  // Each slice's start and end told to the bench, which reads the parts' CPU there (and answers
  // on stdin once it has): the CPU per request of each phase, as of the request counts.
  const acks = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const boundary = async (edge: 'start' | 'end', phase: 'floor' | 'product') => {
    const cpu = process.cpuUsage();
    console.log(JSON.stringify({ boundary: edge, phase, loadCpuSeconds: (cpu.user + cpu.system) / 1e6 }));
    await acks.next();
  };
  for (const phase of order) {
    await boundary('start', phase);
    if (phase === 'floor') floors.push(await run(job.floorUrl, bare, job.clients, turnSeconds));
    else product.push(await run(job.url, scenario, job.clients, turnSeconds));
    await boundary('end', phase);
  }
  process.stdin.destroy();
  groups = { floor: figures(floors), [scenarioName]: figures(product) };
} else {
  groups = { [name]: figures([await run(job.url, named(name), job.clients)]) };
}
const cpu = process.cpuUsage();
console.log(JSON.stringify({ groups, cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
