import { join } from 'node:path';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { startTemporalCluster } from '../infra/temporal-cluster';
import { startDevServer } from '../infra/temporal-servers';

/** Which Temporal a benchmark runs on: the development server, or the production topology of `start:cluster`. */
export type BenchServer = 'dev' | 'cluster';

/**
 * `--server dev|cluster` anywhere on the command line (or KS_BENCH_SERVER), and the positional
 * arguments without it.
 */
export function benchOptions(argv: string[] = process.argv.slice(2)): {
  server: BenchServer;
  args: string[];
} {
  const args = [...argv];
  let server = process.env.KS_BENCH_SERVER ?? 'dev';
  const at = args.findIndex((a) => a === '--server' || a.startsWith('--server='));
  if (at !== -1) {
    const [flag] = args.splice(at, 1);
    server = flag!.includes('=') ? flag!.split('=')[1]! : (args.splice(at, 1)[0] ?? '');
  }
  if (server !== 'dev' && server !== 'cluster')
    throw new Error(`--server must be dev or cluster, not "${server}"`);
  return { server, args };
}

/**
 * `name value` taken out of `args`: its value ('' when nothing follows it; undefined when the option is
 * absent) and the other arguments in order.
 */
export function takeOption(
  args: readonly string[],
  name: string,
): { value: string | undefined; rest: string[] } {
  const at = args.indexOf(name);
  if (at < 0) return { value: undefined, rest: [...args] };
  return { value: args[at + 1] ?? '', rest: args.filter((_, i) => i !== at && i !== at + 1) };
}

export interface BenchInfrastructure {
  /** postgres:// URL of the server's `postgres` database (create the bench's own beside it). */
  postgresUrl: string;
  temporalAddress: string;
  /** What the figures ran on, for the printout. */
  description: string;
  /** The command lines of this Temporal's processes (bench/cpu.ts reads their CPU by it). */
  temporalProcesses: RegExp;
  /** The command lines of the PostgreSQL server's processes (its backends are counted with it). */
  postgresProcesses: RegExp;
  stop(): Promise<void>;
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const postgresProcessesOf = (url: string) => new RegExp(`^\\S*postgres -D .* -p ${new URL(url).port}\\b`);

/**
 * PostgreSQL (embedded, in `dir`) and the chosen Temporal: the dev server (SQLite in memory), or the
 * cluster (Temporal 1.29.1 on that PostgreSQL, persistence and SQL visibility, one process per service,
 * history on two hosts).
 */
export async function startBenchInfrastructure(
  server: BenchServer,
  dir: string,
): Promise<BenchInfrastructure> {
  if (server === 'dev') {
    const [pg, dev] = await Promise.all([
      startEmbeddedPostgres({ dataDir: join(dir, 'pg') }),
      startDevServer({ headless: true }),
    ]);
    return {
      postgresUrl: pg.url,
      temporalAddress: dev.address,
      description: 'Temporal dev server (SQLite)',
      postgresProcesses: postgresProcessesOf(pg.url),
      temporalProcesses: new RegExp(
        `^\\S*temporal server start-dev .*--port ${dev.address.split(':').at(-1)}\\b`,
      ),
      async stop() {
        await dev.stop();
        await pg.stop();
      },
    };
  }
  const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg') });
  try {
    const clusterDir = join(dir, 'temporal');
    const cluster = await startTemporalCluster({ postgresUrl: pg.url, dir: clusterDir, headless: true });
    const history = cluster.hosts().filter((h) => h.service === 'history').length;
    return {
      postgresUrl: pg.url,
      temporalAddress: cluster.address,
      description: `Temporal cluster (1.29.1 on PostgreSQL, SQL visibility, history on ${history} hosts)`,
      // One process per service, each with its configuration under the cluster's directory.
      postgresProcesses: postgresProcessesOf(pg.url),
      temporalProcesses: new RegExp(` --root ${escaped(join(clusterDir, 'config'))}/`),
      async stop() {
        await cluster.stop();
        await pg.stop();
      },
    };
  } catch (error) {
    await pg.stop();
    throw error;
  }
}
