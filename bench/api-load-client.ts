/**
 * A load generator of bench/api-load, run as a process of its own (never beside the system under
 * test): `node --import tsx bench/api-load-client.ts <job.json> <scenario> <seconds> [share shares]`.
 * It drives the clients whose number is `share` modulo `shares` (the bench runs `shares` of these
 * processes; one, all clients, by default). Keep-alive fetch loops, one per client, for `seconds`;
 * prints one JSON line with each group's latencies, wall and busy time, and failures. Every client
 * speaks from an address of its own through the trusted proxy (the stack trusts 127.0.0.1, which sends
 * X-Forwarded-For), so per-address throttles count one client each, as they would for people behind a
 * load balancer: the bench measures speed, not the limiter.
 *
 * Scenarios: each of `SCENARIOS` alone on `clients` clients; `mix`;
 * `login-storm` (GET /me on `clients` clients while `stormLogins` more clients log in, in a loop).
 * `<scenario>+floor`: the scenario and the floor (the bare route), `seconds` each, in pairs of slices
 * of about 2 s whose order alternates (floor first, then the scenario first, ...): a machine whose
 * speed drifts during the run weighs on both alike. Both are reported, each over all of its slices.
 * The load starts once a `ready` line on stdout is answered by a line on stdin (so that every process
 * starts together); each slice's start and end go to stdout as a `boundary` line with this process's
 * CPU so far, and the next slice waits for a line on stdin: the bench reads the other parts' CPU in
 * between.
 */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { type ApiLoadJob, type Scenario, scenarios } from './api-load-scenarios';
import { clientAddress } from './client-addresses';
import { type Driven, sumCounts, turns } from './stats';

async function drive(
  base: string,
  scenario: Scenario,
  opts: { clients: number[]; deadline: number; tokens: string[] },
): Promise<Driven> {
  const latencies: number[] = [];
  const failed: Record<string, number> = {};
  const started = performance.now();
  const elu = performance.eventLoopUtilization();
  await Promise.all(
    opts.clients.map(async (c) => {
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
  return {
    latencies,
    wallMs: performance.now() - started,
    busyMs: performance.eventLoopUtilization(elu).active,
    failed,
  };
}

/** One group's slices as one. */
function joined(parts: Driven[]): Driven {
  return {
    latencies: parts.flatMap((part) => part.latencies),
    wallMs: parts.reduce((sum, part) => sum + part.wallMs, 0),
    busyMs: parts.reduce((sum, part) => sum + part.busyMs, 0),
    failed: sumCounts(parts.map((part) => part.failed)),
  };
}

const [jobPath, name, secondsArg, shareArg = '0', sharesArg = '1'] = process.argv.slice(2);
if (!jobPath || !name || !secondsArg)
  throw new Error('usage: api-load-client.ts <job.json> <scenario>[+floor] <seconds> [share shares]');
const job = JSON.parse(await readFile(jobPath, 'utf8')) as ApiLoadJob;
const seconds = Number(secondsArg);
const [share, shares] = [Number(shareArg), Number(sharesArg)];
/** This process's clients of `count` numbered from `first`. */
const mine = (count: number, first = 0) =>
  Array.from({ length: count }, (_, i) => first + i).filter((c) => c % shares === share);
const tokens = job.owners.map((o) => o.token);
const all = scenarios(job);
const run = (base: string, scenario: Scenario, clients: number[], forSeconds = seconds) =>
  drive(base, scenario, { clients, deadline: performance.now() + forSeconds * 1000, tokens });
/** The floor: the bare route beside the stack (bench/api-load.ts). */
const bare: Scenario = () => ({ method: 'GET', path: '/bare', auth: false });
const named = (scenarioName: string) => {
  const scenario = all[scenarioName];
  if (!scenario) throw new Error(`no scenario "${scenarioName}"`);
  return scenario;
};
const acks = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
/** A line for the bench, then its answer. */
const told = async (line: Record<string, unknown>) => {
  console.log(JSON.stringify(line));
  await acks.next();
};

await told({ ready: true });
let groups: Record<string, Driven>;
if (name === 'login-storm') {
  // The logins come from clients (and addresses) of their own, after the readers' range.
  const [me, logins] = await Promise.all([
    run(job.url, all['GET /me']!, mine(job.clients)),
    run(job.url, all['POST /auth/login']!, mine(job.stormLogins, job.clients)),
  ]);
  groups = { 'GET /me': me, 'POST /auth/login': logins };
} else if (name.endsWith('+floor')) {
  const scenarioName = name.slice(0, -'+floor'.length);
  const scenario = named(scenarioName);
  const { order, turnSeconds } = turns(seconds, 'floor' as const, 'product' as const);
  const product: Driven[] = [];
  const floors: Driven[] = [];
  // Each slice's start and end told to the bench, which reads the parts' CPU there (and answers
  // on stdin once it has): the CPU per request of each phase, as of the request counts.
  const boundary = (edge: 'start' | 'end', phase: 'floor' | 'product') => {
    const cpu = process.cpuUsage();
    return told({ boundary: edge, phase, loadCpuSeconds: (cpu.user + cpu.system) / 1e6 });
  };
  for (const phase of order) {
    await boundary('start', phase);
    if (phase === 'floor') floors.push(await run(job.floorUrl, bare, mine(job.clients), turnSeconds));
    else product.push(await run(job.url, scenario, mine(job.clients), turnSeconds));
    await boundary('end', phase);
  }
  groups = { floor: joined(floors), [scenarioName]: joined(product) };
} else {
  groups = { [name]: await run(job.url, named(name), mine(job.clients)) };
}
process.stdin.destroy();
console.log(JSON.stringify({ groups }));
