/**
 * bench/postgres-socket (issue 15): the same transactions to the embedded PostgreSQL over TCP on
 * 127.0.0.1 and over its Unix-domain socket (the URL's `?host=`, db/connection-url.ts), the way the
 * product's processes on the server's host now connect. Each transaction is what a short write of the
 * product looks like: BEGIN, `statements` single-row updates one after another, COMMIT.
 *
 * Both clients run in this process against one server, in alternating rounds (the machine's drift
 * weighs on both alike); printed per round and path: wall time per transaction, this process's CPU
 * per transaction (and its system part), and PostgreSQL's CPU per transaction.
 *
 * Run: npx tsx bench/postgres-socket.ts [transactions=4000] [concurrency=32] [statements=5] [rounds=4]
 * Last line: RESULT postgres-socket pgCpuRatio=<socket / TCP> clientCpuRatio=<…> wallRatio=<…>
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type postgres from 'postgres';
import { postgresAt, postgresConnection } from '../db/connection-url';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { cpuSeconds } from './cpu';
import { runConcurrent } from './stats';

const [transactions = 4000, concurrency = 32, statements = 5, rounds = 4] = process.argv.slice(2).map(Number);
const ROWS = 10_000;

const workDir = await mkdtemp(join(tmpdir(), 'bench-pg-socket-'));
// Embedded PostgreSQL runs as the postgres user when this runs as root.
await chmod(workDir, 0o755);
const pg = await startEmbeddedPostgres({ dataDir: join(workDir, 'pg') });
const postgresProcesses = new RegExp(`postgres -D ${join(workDir, 'pg')}`);
try {
  if (!postgresConnection(pg.url).path) throw new Error('the embedded server has no socket here');
  const tcpUrl = new URL(pg.url);
  tcpUrl.searchParams.delete('host');
  const clients = {
    tcp: postgresAt(tcpUrl.toString(), { max: 10, onnotice: () => {} }),
    socket: postgresAt(pg.url, { max: 10, onnotice: () => {} }),
  };
  await clients.tcp`create table t (id int primary key, v int not null)`;
  await clients.tcp`insert into t select g, 0 from generate_series(1, ${ROWS}) g`;

  const transaction = (sql: postgres.Sql) => async (i: number) => {
    await sql.begin(async (tx) => {
      for (let k = 0; k < statements; k++) {
        await tx`update t set v = v + 1 where id = ${((i * statements + k) % ROWS) + 1}`;
      }
    });
  };
  const round = async (path: keyof typeof clients) => {
    const pgBefore = cpuSeconds({ pg: postgresProcesses })?.pg ?? 0;
    const before = process.cpuUsage();
    const { wallMs } = await runConcurrent(transactions, concurrency, transaction(clients[path]));
    const cpu = process.cpuUsage(before);
    const pgCpu = (cpuSeconds({ pg: postgresProcesses })?.pg ?? 0) - pgBefore;
    return {
      wallUs: (wallMs * 1000) / transactions,
      clientUs: (cpu.user + cpu.system) / transactions,
      systemUs: cpu.system / transactions,
      pgUs: (pgCpu * 1e6) / transactions,
    };
  };

  // Warm-up: connections opened, statements prepared, code compiled, on both paths.
  await round('tcp');
  await round('socket');
  console.log(
    `bench/postgres-socket: ${transactions} transactions of ${statements} updates, ${concurrency} at once, ${rounds} rounds each`,
  );
  const totals = { tcp: { wallUs: 0, clientUs: 0, pgUs: 0 }, socket: { wallUs: 0, clientUs: 0, pgUs: 0 } };
  for (let r = 0; r < rounds; r++) {
    const order: Array<keyof typeof clients> = r % 2 === 0 ? ['tcp', 'socket'] : ['socket', 'tcp'];
    for (const path of order) {
      const x = await round(path);
      totals[path].wallUs += x.wallUs;
      totals[path].clientUs += x.clientUs;
      totals[path].pgUs += x.pgUs;
      console.log(
        `  ${path.padEnd(6)} wall ${x.wallUs.toFixed(0).padStart(4)} µs/tx  client CPU ${x.clientUs.toFixed(0).padStart(4)} µs ` +
          `(system ${x.systemUs.toFixed(0).padStart(3)})  PostgreSQL CPU ${x.pgUs.toFixed(0).padStart(4)} µs`,
      );
    }
  }
  const ratio = (key: 'wallUs' | 'clientUs' | 'pgUs') => (totals.socket[key] / totals.tcp[key]).toFixed(2);
  console.log(
    `  socket / TCP: wall ${ratio('wallUs')}, client CPU ${ratio('clientUs')}, PostgreSQL CPU ${ratio('pgUs')}`,
  );
  await Promise.all(Object.values(clients).map((sql) => sql.end()));
  console.log(
    `RESULT postgres-socket pgCpuRatio=${ratio('pgUs')} clientCpuRatio=${ratio('clientUs')} wallRatio=${ratio('wallUs')}`,
  );
} finally {
  await pg.stop();
  await rm(workDir, { recursive: true, force: true });
}
