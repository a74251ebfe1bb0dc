import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { SEARCH_ATTRIBUTE_KEYS } from '../workflows/search-attributes';
import { hasExited, type Log, type SpawnedServer, spawnWithParent } from './server-process';
import {
  provisionTemporalServer,
  provisionTemporalSqlTool,
  provisionTemporalUiServer,
} from './temporal-binaries';
import { ensureSearchAttributes } from './temporal-servers';

/**
 * The production topology of Temporal on one machine: a real `temporal-server` on PostgreSQL
 * (persistence and SQL visibility, set up by deploy/temporal/setup-schema.sh, the script the compose
 * file's schema job runs), one process per service and host, each host on its own loopback address
 * as separate machines would be, finding each other through the membership table in PostgreSQL.
 * The history service runs on several hosts, which split the history shards between them.
 */

export const SETUP_SCHEMA = fileURLToPath(new URL('../deploy/temporal/setup-schema.sh', import.meta.url));
/** Fixed for the life of a cluster's databases; enough to spread over a few history hosts. */
const HISTORY_SHARDS = 8;
/**
 * Connections each Temporal service keeps to its persistence and visibility databases, instead of the
 * server's 20 and 10: several services share one PostgreSQL with the app (docker-compose.yml sets the same).
 */
export const TEMPORAL_SQL_POOLS = { persistence: 10, visibility: 4 } as const;
const RETENTION = '7 days';
const READY_TIMEOUT_MS = 120_000;
/** gRPC status codes. */
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

type Service = 'frontend' | 'history' | 'matching' | 'worker';

export interface TemporalHost {
  /** e.g. `history-2` */
  name: string;
  service: Service;
  /** The loopback address this host binds and announces. */
  ip: string;
  pid: number | undefined;
}

export interface TemporalClusterOptions {
  /** postgres:// URL of the PostgreSQL server (any database on it): Temporal's databases go there. */
  postgresUrl: string;
  /** Config files and logs of the server processes. */
  dir: string;
  /** gRPC port of the frontend on 127.0.0.1; 7233 (or the next free one like it) when omitted. */
  port?: number;
  /**
   * Where the other ports (membership, internal gRPC, HTTP) start; Temporal's usual ports (7234…,
   * 6933…) when omitted. Tests give a random base so that clusters started at once do not race for them.
   */
  portBase?: number;
  /** Web UI port on 127.0.0.1; a free one when omitted; no UI with `headless`. */
  uiPort?: number;
  headless?: boolean;
  /** How many history hosts (default 2). */
  historyHosts?: number;
  /** Namespace to register with the product's search attributes (default `default`). */
  namespace?: string;
  /** Temporal's two databases (default `temporal`, `temporal_visibility`). */
  databases?: { temporal: string; visibility: string };
  /** Starts a server process that died on its own again (not one stopped through this API). */
  supervise?: boolean;
  /** Progress lines (the server processes' own output goes to files under `dir/logs`). */
  log?: Log;
}

export interface TemporalCluster {
  /** host:port of the frontend. */
  address: string;
  namespace: string;
  uiUrl?: string | undefined;
  hosts(): TemporalHost[];
  /**
   * Kills every server process (SIGKILL unless told otherwise) and starts them again on the same
   * addresses; resolves once the cluster serves again.
   */
  restart(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Kills one host (SIGKILL) and leaves it down. */
  killHost(name: string): Promise<void>;
  /** Starts a host that was killed, and waits until the cluster serves. */
  startHost(name: string): Promise<void>;
  /** Stops every process (SIGTERM, SIGKILL after a grace period). */
  stop(): Promise<void>;
}

interface ServicePorts {
  grpcPort: number;
  membershipPort: number;
  httpPort?: number;
}

interface HostSpec {
  name: string;
  service: Service;
  ip: string;
}

/** Unavailable because Go is missing and nothing is cached: callers say so (or skip) instead of failing late. */
export async function clusterBinariesAvailable(log?: Log): Promise<boolean> {
  const [server, sqlTool] = await Promise.all([provisionTemporalServer(log), provisionTemporalSqlTool(log)]);
  return server !== undefined && sqlTool !== undefined;
}

/**
 * Sets up Temporal's databases, starts the cluster and resolves once the namespace and its search
 * attributes are registered and the history hosts answer.
 */
export async function startTemporalCluster(opts: TemporalClusterOptions): Promise<TemporalCluster> {
  const log = opts.log ?? (() => {});
  const namespace = opts.namespace ?? 'default';
  const databases = opts.databases ?? { temporal: 'temporal', visibility: 'temporal_visibility' };
  const [serverPath, sqlTool, uiPath] = await Promise.all([
    provisionTemporalServer(log),
    provisionTemporalSqlTool(log),
    opts.headless ? Promise.resolve(undefined) : provisionTemporalUiServer(log),
  ]);
  if (!serverPath || !sqlTool) {
    throw new Error(
      'the Temporal server and temporal-sql-tool are not available: install Go (they are built once with go install) or set TEMPORAL_SERVER_PATH and TEMPORAL_SQL_TOOL_PATH',
    );
  }
  if (!opts.headless && !uiPath) {
    throw new Error('the Temporal UI server is not available: install Go or set TEMPORAL_UI_SERVER_PATH');
  }

  const pg = new URL(opts.postgresUrl);
  const logDir = join(opts.dir, 'logs');
  await mkdir(logDir, { recursive: true });

  log(`setting up Temporal's databases (${databases.temporal}, ${databases.visibility})…`);
  await runLogged(
    'sh',
    [SETUP_SCHEMA],
    {
      ...process.env,
      TEMPORAL_SQL_TOOL: sqlTool.path,
      TEMPORAL_SCHEMA_DIR: sqlTool.schemaDir,
      SQL_PLUGIN: 'postgres12',
      SQL_HOST: pg.hostname,
      SQL_PORT: pg.port || '5432',
      SQL_USER: decodeURIComponent(pg.username),
      SQL_PASSWORD: decodeURIComponent(pg.password),
      TEMPORAL_DB: databases.temporal,
      TEMPORAL_VISIBILITY_DB: databases.visibility,
    },
    join(logDir, 'setup-schema.log'),
  );

  const hosts: HostSpec[] = [
    { name: 'frontend', service: 'frontend', ip: '127.0.0.1' },
    ...Array.from({ length: opts.historyHosts ?? 2 }, (_, i) => ({
      name: `history-${i + 1}`,
      service: 'history' as const,
      ip: `127.0.0.${i + 2}`,
    })),
  ];
  const nextIp = hosts.length + 1;
  hosts.push(
    { name: 'matching', service: 'matching', ip: `127.0.0.${nextIp}` },
    { name: 'worker', service: 'worker', ip: `127.0.0.${nextIp + 1}` },
  );
  const ips = [...new Set(hosts.map((h) => h.ip))];
  // One port layout for every host, as on separate machines: Temporal's usual ports where free.
  // Membership ports must stay below 32768 (the membership table stores them as smallint).
  const usual = [7234, 7235, 7239, 7243, 6933, 6934, 6935, 6939];
  const preferred = opts.portBase === undefined ? usual : usual.map((_, i) => opts.portBase! + i);
  const [historyPort, matchingPort, workerPort, httpPort, ...membership] = await portsFreeOn(ips, preferred);
  const frontendPort = opts.port ?? (await portsFreeOn(ips, [7233]))[0]!;
  const ports: Record<Service, ServicePorts> = {
    frontend: { grpcPort: frontendPort, membershipPort: membership[0]!, httpPort: httpPort! },
    history: { grpcPort: historyPort!, membershipPort: membership[1]! },
    matching: { grpcPort: matchingPort!, membershipPort: membership[2]! },
    worker: { grpcPort: workerPort!, membershipPort: membership[3]! },
  };
  const address = `127.0.0.1:${frontendPort}`;

  const configDirs = new Map<string, string>();
  for (const host of hosts) {
    const configDir = join(opts.dir, 'config', host.name);
    await mkdir(configDir, { recursive: true });
    // JSON is YAML: the server reads `<config dir>/<env>.yaml`.
    const config = serverConfig({ host, ports, pg, databases, frontendAddress: address });
    await writeFile(join(configDir, 'development.yaml'), JSON.stringify(config, null, 2));
    configDirs.set(host.name, configDir);
  }

  const running = new Map<string, SpawnedServer>();
  const logs = new Map<string, WriteStream>();
  const logTo = (name: string) => {
    let stream = logs.get(name);
    if (!stream) {
      stream = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
      logs.set(name, stream);
    }
    return (line: string) => stream.write(`${line}\n`);
  };
  const spawnHost = (name: string, command: string, args: string[]) => {
    const server = spawnWithParent(command, args, { log: logTo(name) });
    running.set(name, server);
    const startedAt = Date.now();
    void server.exited.then(() => {
      // Stopped through this API; or, unsupervised, left in place for checkAlive to report.
      if (running.get(name) !== server || !opts.supervise || stopped) return;
      running.delete(name);
      const quick = Date.now() - startedAt < 10_000;
      quickDeaths.set(name, quick ? (quickDeaths.get(name) ?? 0) + 1 : 0);
      if ((quickDeaths.get(name) ?? 0) >= 5) {
        log(`Temporal ${name} keeps exiting; not starting it again:\n${server.outputTail.join('\n')}`);
        return;
      }
      log(`Temporal ${name} exited; starting it again`);
      setTimeout(() => {
        if (!stopped && !running.has(name)) spawnHost(name, command, args);
      }, 1_000);
    });
  };
  const quickDeaths = new Map<string, number>();
  let stopped = false;
  const startHost = (host: HostSpec) => {
    const args = ['--root', configDirs.get(host.name)!, '--config', '.', '--env', 'development'];
    args.push('--allow-no-auth', 'start', '--service', host.service);
    spawnHost(host.name, serverPath, args);
  };
  const stopHost = async (name: string, signal: 'SIGKILL' | 'SIGTERM') => {
    const server = running.get(name);
    if (!server) return;
    running.delete(name);
    if (signal === 'SIGKILL') {
      if (!hasExited(server.child)) server.child.kill('SIGKILL');
      await server.exited;
    } else {
      await server.stop();
    }
  };
  const stopAll = async (signal: 'SIGKILL' | 'SIGTERM') => {
    await Promise.all([...running.keys()].map((name) => stopHost(name, signal)));
  };
  const checkAlive = () => {
    for (const [name, server] of running) {
      if (hasExited(server.child)) {
        throw new Error(`Temporal ${name} exited during startup:\n${server.outputTail.join('\n')}`);
      }
    }
  };
  const waitUntilServing = () => waitUntilReady(address, namespace, checkAlive);

  let uiUrl: string | undefined;
  try {
    log(
      `starting the Temporal server: ${hosts.map((h) => `${h.name} on ${h.ip}`).join(', ')} (${HISTORY_SHARDS} history shards)…`,
    );
    // The first host to start writes the cluster's metadata; several at once on fresh databases
    // race for it and the losers exit. The frontend goes first, the others once it serves.
    startHost(hosts[0]!);
    await waitForFrontend(address, () => checkAlive());
    for (const host of hosts.slice(1)) startHost(host);
    await waitUntilServing();
    if (uiPath) {
      const uiPort = opts.uiPort ?? (await portsFreeOn(['127.0.0.1'], [8233]))[0]!;
      const uiDir = join(opts.dir, 'config', 'ui');
      await mkdir(uiDir, { recursive: true });
      await writeFile(join(uiDir, 'development.yaml'), JSON.stringify(uiConfig(address, uiPort, namespace)));
      const uiArgs = ['--root', uiDir, '--config', '.', '--env', 'development', 'start'];
      spawnHost('ui', uiPath, uiArgs);
      uiUrl = `http://127.0.0.1:${uiPort}`;
      await waitForHttp(uiUrl, running.get('ui')!);
    }
  } catch (error) {
    stopped = true;
    await stopAll('SIGKILL');
    for (const stream of logs.values()) stream.end();
    throw error;
  }

  const hostSpec = (name: string) => {
    const host = hosts.find((h) => h.name === name);
    if (!host) throw new Error(`no Temporal host ${name}`);
    return host;
  };
  return {
    address,
    namespace,
    uiUrl,
    hosts: () =>
      hosts.map((h) => ({ name: h.name, service: h.service, ip: h.ip, pid: running.get(h.name)?.child.pid })),
    async restart(signal = 'SIGKILL') {
      await Promise.all(hosts.map((h) => stopHost(h.name, signal)));
      for (const host of hosts) startHost(host);
      await waitUntilServing();
    },
    async killHost(name) {
      hostSpec(name);
      await stopHost(name, 'SIGKILL');
    },
    async startHost(name) {
      const host = hostSpec(name);
      const current = running.get(name);
      if (current && !hasExited(current.child)) throw new Error(`Temporal ${name} is running`);
      startHost(host);
      await waitUntilServing();
    },
    async stop() {
      stopped = true;
      // The UI first, then the services (frontend first, so no new work arrives while history stops).
      await stopHost('ui', 'SIGTERM');
      await stopAll('SIGTERM');
      await Promise.all([...logs.values()].map((s) => new Promise((done) => s.end(done))));
    },
  };
}

function serverConfig(opts: {
  host: HostSpec;
  ports: Record<Service, ServicePorts>;
  pg: URL;
  databases: { temporal: string; visibility: string };
  frontendAddress: string;
}) {
  const { host, pg } = opts;
  const sql = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${pg.hostname}:${pg.port || '5432'}`,
      connectProtocol: 'tcp',
      user: decodeURIComponent(pg.username),
      password: decodeURIComponent(pg.password),
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      numHistoryShards: HISTORY_SHARDS,
      defaultStore: 'default',
      visibilityStore: 'visibility',
      datastores: {
        default: sql(opts.databases.temporal, TEMPORAL_SQL_POOLS.persistence),
        visibility: sql(opts.databases.visibility, TEMPORAL_SQL_POOLS.visibility),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: host.ip },
      pprof: { port: 0 },
    },
    // Every host knows every service's ports (one layout for all hosts) and binds its own address.
    services: Object.fromEntries(
      Object.entries(opts.ports).map(([service, ports]) => [
        service,
        { rpc: { ...ports, bindOnIP: host.ip } },
      ]),
    ),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: opts.frontendAddress,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
  };
}

function uiConfig(temporalAddress: string, port: number, namespace: string) {
  return {
    temporalGrpcAddress: temporalAddress,
    host: '127.0.0.1',
    port,
    enableUi: true,
    defaultNamespace: namespace,
    notifyOnNewVersion: false,
    cors: { cookieInsecure: true, allowOrigins: [`http://localhost:${port}`, `http://127.0.0.1:${port}`] },
  };
}

/**
 * Polls until the frontend serves the namespace with the product's search attributes and the history
 * hosts answer. Registers the namespace and the attributes the first time (idempotent afterwards).
 */
async function waitUntilReady(address: string, namespace: string, checkAlive: () => void): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  for (;;) {
    checkAlive();
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: '2s' });
      const registered = await ensureNamespace(connection, namespace);
      const before = await missingSearchAttributes(connection, namespace);
      await ensureSearchAttributes(connection, namespace);
      await historyAnswers(connection, namespace);
      // Services read namespaces through a cache refreshed every 2 s: after a registration, wait for it
      // so the first workflow that sets an attribute is not refused by a host that has not seen it yet.
      if (registered || before > 0) await sleep(4_000);
      return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    } finally {
      await connection?.close();
    }
    if (Date.now() > deadline) throw new Error(`Temporal cluster not ready on ${address}: ${lastError}`);
    await sleep(500);
  }
}

/** Polls until the frontend answers at all (it needs no other service for that). */
async function waitForFrontend(address: string, checkAlive: () => void): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    checkAlive();
    const connection = await Connection.connect({ address, connectTimeout: '1s' }).catch(() => undefined);
    const answered = await connection?.workflowService.getSystemInfo({}).then(
      () => true,
      () => false,
    );
    await connection?.close();
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`Temporal frontend not answering on ${address}`);
    await sleep(250);
  }
}

/** Registers the namespace unless it exists; true when it was registered now. */
async function ensureNamespace(connection: Connection, namespace: string): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return false;
  } catch (error) {
    if (!isGrpcServiceError(error) || error.code !== NOT_FOUND) throw error;
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(RETENTION),
    });
  } catch (error) {
    if (!isGrpcServiceError(error) || error.code !== ALREADY_EXISTS) throw error;
  }
  // Listed through the frontend's namespace cache: the next round checks it is there.
  throw new Error(`namespace ${namespace} registered; waiting for it to be served`);
}

async function missingSearchAttributes(connection: Connection, namespace: string): Promise<number> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  return SEARCH_ATTRIBUTE_KEYS.filter((key) => !(key.name in (customAttributes ?? {}))).length;
}

/**
 * Asks history about workflows that do not exist, spread over the shards: NOT_FOUND means the host
 * owning that shard answered; UNAVAILABLE (no host owns it yet) is thrown.
 */
async function historyAnswers(connection: Connection, namespace: string): Promise<void> {
  for (let i = 0; i < 4 * HISTORY_SHARDS; i++) {
    try {
      await connection.workflowService.describeWorkflowExecution({
        namespace,
        execution: { workflowId: `readiness-probe-${randomUUID()}` },
      });
    } catch (error) {
      if (!isGrpcServiceError(error) || error.code !== NOT_FOUND) throw error;
    }
  }
}

async function waitForHttp(url: string, server: SpawnedServer): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (hasExited(server.child)) throw new Error(`Temporal UI exited:\n${server.outputTail.join('\n')}`);
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    if (Date.now() > deadline) throw new Error(`Temporal UI not answering on ${url}`);
    await sleep(250);
  }
}

/** Runs a command to completion with its output in a log file; fails with the output's tail. */
function runLogged(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(logFile, { flags: 'a' });
    const tail: string[] = [];
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk: Buffer) => {
        out.write(chunk);
        tail.push(...chunk.toString().split('\n').filter(Boolean));
        tail.splice(0, Math.max(0, tail.length - 20));
      });
    }
    child.on('error', reject);
    child.on('close', (code) => {
      out.end();
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${code}):\n${tail.join('\n')}`));
    });
  });
}

/**
 * For each preferred port, that port or the first of port+1000, port+2000, … (below 32768) that is
 * free on every one of `ips`. The listeners are held until all are picked, so no port comes twice.
 */
async function portsFreeOn(ips: string[], preferred: number[]): Promise<number[]> {
  const held: Server[] = [];
  try {
    const ports: number[] = [];
    for (const wanted of preferred) {
      let port = wanted;
      for (;;) {
        const bound = await Promise.all(ips.map((ip) => listen(port, ip).catch(() => undefined)));
        held.push(...bound.filter((s): s is Server => s !== undefined));
        if (bound.every(Boolean)) break;
        port += 1000;
        if (port >= 32768) throw new Error(`no free port like ${wanted} on ${ips.join(', ')}`);
      }
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(held.map((s) => new Promise((done) => s.close(done))));
  }
}

function listen(port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
