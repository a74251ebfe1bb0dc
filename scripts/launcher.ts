import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { envSchema } from '../config/env';
import { connectDatabase } from '../db/client';
import { withoutQueryParams } from '../db/errors';
import { DEMO_ACCOUNTS, DEMO_PASSWORD, seedDemo } from './seed-demo';

/**
 * What `npm start` and `npm run start:cluster` share: the child processes they supervise (any one
 * exiting on its own stops everything; Ctrl-C or SIGTERM stops everything cleanly), the token secret
 * kept in the data directory, the demo data, and the banner.
 */
export interface Launcher {
  root: string;
  dataDir: string;
  say(line: string): void;
  /** Runs at shutdown after the children have exited, last registered first. */
  onStop(stop: () => Promise<void>): void;
  /**
   * `node --import tsx <entry>` with this environment, output inherited. When it exits on its own,
   * everything stops, or with `restart` it is started again (as an orchestrator's restart policy
   * would), unless it keeps dying within seconds of its start.
   */
  runChild(name: string, entry: string, env: NodeJS.ProcessEnv, opts?: { restart?: boolean }): void;
  /** For `main().catch(...)`: prints the causes on one line and stops everything. */
  fail(error: unknown): void;
}

/** A child that dies this soon after its start, this many times in a row, is not started again. */
const CRASH_LOOP = { withinMs: 10_000, times: 5 };
const RESTART_DELAY_MS = 1_000;
/**
 * How long a child may take to stop after SIGTERM before SIGKILL: longer than a worker's default
 * WORKER_SHUTDOWN_GRACE_SECONDS, so its in-flight activities can finish.
 */
export const STOP_TIMEOUT_MS = 30_000;

export function createLauncher(opts: { tag: string; defaultDataDir: string }): Launcher {
  const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const dataDir = resolve(process.env.KS_DATA_DIR ?? join(root, opts.defaultDataDir));
  const children = new Map<string, ChildProcess>();
  const timers = new Set<NodeJS.Timeout>();
  const stops: Array<() => Promise<void>> = [];
  let stopping = false;
  const say = (line: string) => console.log(`[${opts.tag}] ${line}`);

  async function shutdown(code: number) {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    for (const timer of timers) clearTimeout(timer);
    await Promise.all([...children.values()].map(stopChild));
    for (const stop of stops.reverse()) await stop().catch(() => {});
    process.exit(code);
  }
  // shutdown handles its own errors and exits the process.
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  function runChild(name: string, entry: string, env: NodeJS.ProcessEnv, run: { restart?: boolean } = {}) {
    let quickDeaths = 0;
    const start = () => {
      const startedAt = Date.now();
      const child = spawn(process.execPath, ['--import', 'tsx', join(root, entry)], {
        cwd: root,
        env,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      children.set(name, child);
      child.on('exit', (code, signal) => {
        if (stopping) return;
        quickDeaths = Date.now() - startedAt < CRASH_LOOP.withinMs ? quickDeaths + 1 : 0;
        if (run.restart && quickDeaths < CRASH_LOOP.times) {
          say(`${name} exited (${signal ?? code}); starting it again`);
          const timer = setTimeout(() => {
            timers.delete(timer);
            if (!stopping) start();
          }, RESTART_DELAY_MS);
          timers.add(timer);
          return;
        }
        console.error(`[${opts.tag}] ${name} exited (${signal ?? code}); stopping everything`);
        void shutdown(1);
      });
    };
    start();
  }

  return {
    root,
    dataDir,
    say,
    onStop: (stop) => stops.push(stop),
    runChild,
    fail(error) {
      // A failed query (the demo seed's, a migration's) names its bound values: its SQL and reason only.
      let cause = withoutQueryParams(error);
      const reasons: string[] = [];
      while (cause instanceof Error) {
        reasons.push(cause.message);
        cause = withoutQueryParams(cause.cause);
      }
      console.error(`[${opts.tag}] failed: ${reasons.join(': ') || String(error)}`);
      void shutdown(1);
    },
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}

/**
 * The ports this run's servers bind, as the environment names them (or their defaults); GATEWAY_PORTS
 * read as the gateway reads it (none when invalid: the children's own validation reports it). `all`
 * is free until those servers start, so no other port picked (PostgreSQL's, the metrics') may be one.
 */
export function serverPorts(apiPorts: readonly number[]) {
  const temporal = Number(process.env.TEMPORAL_PORT ?? 7233);
  const temporalUi = Number(process.env.TEMPORAL_UI_PORT ?? 8233);
  const gateway = envSchema.shape.GATEWAY_PORTS.safeParse(process.env.GATEWAY_PORTS).data ?? [];
  return { temporal, temporalUi, all: [...apiPorts, temporal, temporalUi, ...gateway] };
}

/** The bearer-token secret of this data directory, created on first start. */
export async function tokenSecret(dataDir: string): Promise<string> {
  const file = join(dataDir, 'token-secret');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const secret = randomBytes(32).toString('base64url');
  await writeFile(file, secret, { mode: 0o600 });
  return secret;
}

export async function waitForHealth(url: string, deadlineMs: number) {
  while (Date.now() < deadlineMs) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer 200 in time`);
}

export interface Demo {
  siteId: string;
  unredeemedCodes: string[];
  /** The demo IQs' credentials, for `npm run iq-sim -- --credentials`. */
  iqCredentialsFile: string;
}

/**
 * The mode start:cluster runs its processes in: the operator's KS_MODE, development unless set. Demo
 * staff accounts (with a published password) and the /dev/mailbox exist in development only, so a
 * cluster pointed at a real database with KS_MODE=production gets neither.
 */
export function clusterMode(source: NodeJS.ProcessEnv): { mode: string; demo: boolean } {
  // Any other value is config/env.ts's to refuse.
  const mode = source.KS_MODE?.trim() || 'development';
  return { mode, demo: mode === 'development' };
}

/** The demo data (created once per data directory, see seed-demo.ts). */
export async function seedDemoData(opts: {
  dataDir: string;
  databaseUrl: string;
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
}): Promise<Demo> {
  const connection = await Connection.connect({ address: opts.temporalAddress });
  const database = connectDatabase(opts.databaseUrl, { max: 2 });
  const iqCredentialsFile = join(opts.dataDir, 'demo-iqs.json');
  try {
    const demo = await seedDemo({
      db: database.db,
      temporal: new Client({ connection, namespace: opts.namespace }),
      taskQueue: opts.taskQueue,
      recordFile: join(opts.dataDir, 'demo.json'),
      planFile: join(opts.dataDir, 'demo-plan.json'),
      iqCredentialsFile,
    });
    return { ...demo, iqCredentialsFile };
  } finally {
    await database.close();
    await connection.close();
  }
}

/** Relative to the working directory when inside it, for a command line a user can paste. */
function shownPath(file: string): string {
  const shown = relative(process.cwd(), file);
  return shown.startsWith('..') ? file : shown;
}

/** The banner both start commands print once everything answers; `rows` are the lines after the API's. */
export function banner(opts: {
  title: string;
  started: number;
  apiPorts: number[];
  rows: Array<[label: string, value: string]>;
  gatewayPorts: number[];
  /** None in production (clusterMode): no demo accounts, no mailbox. */
  demo: Demo | undefined;
}): string {
  const [port] = opts.apiPorts;
  const apis = opts.apiPorts.map((p) => `http://localhost:${p}`).join(', ');
  const row = ([label, value]: [string, string]) => `  ${label.padEnd(12)} ${value}`;
  const rows: Array<[string, string]> = [
    ['API', `${apis}          health: /health`],
    ['API docs', `http://localhost:${port}/docs     OpenAPI: /openapi.json`],
    ...(opts.demo ? [['Mailbox', `http://localhost:${port}/dev/mailbox`] as [string, string]] : []),
    ...opts.rows,
  ];
  if (!opts.demo) {
    return `
${opts.title} in production mode (started in ${((Date.now() - opts.started) / 1000).toFixed(1)} s; Ctrl-C stops everything)
${rows.map(row).join('\n')}

No demo data: KS_MODE=production.
`;
  }
  return `
${opts.title} (started in ${((Date.now() - opts.started) / 1000).toFixed(1)} s; Ctrl-C stops everything)
${rows.map(row).join('\n')}

Demo accounts (password "${DEMO_PASSWORD}"):
${DEMO_ACCOUNTS.map((a) => `  ${a.email.padEnd(24)} ${a.platformRole ?? (a.email.startsWith('owner') ? 'owner of the demo site' : 'admin of the demo site')}`).join('\n')}
Demo site: ${opts.demo.siteId}
  its two IQs come online with: npm run iq-sim -- --credentials ${shownPath(opts.demo.iqCredentialsFile)} --ports ${opts.gatewayPorts.join(',')}
${
  opts.demo.unredeemedCodes.length > 0
    ? `Unredeemed vouchers (10 users, 2 IQs, 365 days):\n${opts.demo.unredeemedCodes.map((c) => `  ${c}`).join('\n')}`
    : 'Unredeemed vouchers: none left; support@example.com issues more with POST /support/vouchers'
}
`;
}

/**
 * Resolves once a worker polls the task queue for workflow tasks, so that the banner never shows a
 * system that would leave a first redemption waiting for its worker.
 */
export async function waitForWorkerPolling(opts: {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  deadlineMs: number;
}): Promise<void> {
  const connection = await Connection.connect({ address: opts.temporalAddress });
  try {
    while (Date.now() < opts.deadlineMs) {
      const { pollers } = await connection.workflowService.describeTaskQueue({
        namespace: opts.namespace,
        taskQueue: { name: opts.taskQueue },
        taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      });
      if (pollers.length > 0) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`no worker polled task queue ${opts.taskQueue} in time`);
  } finally {
    await connection.close();
  }
}

/** A postgres:// URL with its password hidden, for printing. */
export function withoutPassword(url: string): string {
  return url.replace(/:[^:@/]+@/, ':***@');
}
