import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection, type ConnectionPlugin } from '@temporalio/client';
import proto from '@temporalio/proto';
import { type EphemeralServerExecutable, TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTE_KEYS } from '../workflows/search-attributes';
import { freePort } from './free-port';

const TEMPORAL_CLI_VERSION = '1.5.1';
const TEST_SERVER_VERSION = '1.38.0';
/** Last resort on machines with internet: the SDK downloads the server itself. */
const SDK_DOWNLOAD: EphemeralServerExecutable = { type: 'cached-download' };
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

export type Log = (line: string) => void;
const logToStderr: Log = (line) => console.error(line);

/** Where built/fetched servers live: outside git, shared by every checkout of the project. */
export function temporalCacheDir(): string {
  return (
    process.env.KS_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ks-cloud')
  );
}

// ---------------------------------------------------------------------------------------------
// Provisioning
// ---------------------------------------------------------------------------------------------

/**
 * The Temporal CLI (dev server): $TEMPORAL_CLI_PATH, else the cached build, else a fresh
 * `go install` into the cache, else the SDK's download.
 */
export async function provisionTemporalCli(log: Log = logToStderr): Promise<EphemeralServerExecutable> {
  if (process.env.TEMPORAL_CLI_PATH) return existingPath(process.env.TEMPORAL_CLI_PATH);
  const dir = join(temporalCacheDir(), `temporal-cli-${TEMPORAL_CLI_VERSION}`);
  const binary = join(dir, 'temporal');
  if (runsOk(binary)) return existingPath(binary);
  if (!(await onPath('go'))) return SDK_DOWNLOAD;
  await withLock(`${dir}.lock`, log, async () => {
    // Another process may have finished the build while we waited for the lock.
    if (!runsOk(binary)) await buildTemporalCli(dir, log);
  });
  return existingPath(binary);
}

/**
 * The Java time-skipping test server: $TEMPORAL_TEST_SERVER_PATH, else a launcher for the cached
 * Maven jars, else jars fetched now with `mvn`, else the SDK's download.
 */
export async function provisionTestServer(log: Log = logToStderr): Promise<EphemeralServerExecutable> {
  if (process.env.TEMPORAL_TEST_SERVER_PATH) return existingPath(process.env.TEMPORAL_TEST_SERVER_PATH);
  if (!(await onPath('java'))) return SDK_DOWNLOAD;
  const dir = join(temporalCacheDir(), `test-server-${TEST_SERVER_VERSION}`);
  const lib = join(dir, 'lib');
  if (!hasTestServerJars(lib)) {
    if (!(await onPath('mvn'))) return SDK_DOWNLOAD;
    await withLock(`${dir}.lock`, log, async () => {
      if (!hasTestServerJars(lib)) await fetchTestServerJars(dir, log);
    });
  }
  return existingPath(await writeTestServerLauncher(dir, lib));
}

function existingPath(path: string): EphemeralServerExecutable {
  return { type: 'existing-path', path };
}

/** A half-written binary (a build still copying it) fails to run, so "runs" is the cache check. */
function runsOk(binary: string): boolean {
  return (
    existsSync(binary) && spawnSync(binary, ['--version'], { stdio: 'ignore', timeout: 15_000 }).status === 0
  );
}

function hasTestServerJars(lib: string): boolean {
  return existsSync(join(lib, `temporal-test-server-${TEST_SERVER_VERSION}.jar`));
}

async function onPath(command: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this PATH entry
    }
  }
  return false;
}

/** Builds into a private GOBIN and renames the binary into place, so a partial build is never used. */
async function buildTemporalCli(dir: string, log: Log): Promise<void> {
  log(`Building Temporal CLI ${TEMPORAL_CLI_VERSION} with go install into ${dir} (takes a few minutes)...`);
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    await run('go', ['install', `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`], {
      env: { ...process.env, GOBIN: tmp },
    });
    await rename(join(tmp, 'temporal'), join(dir, 'temporal'));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Fetches the jars into a private dir and renames it to `lib`, so a partial fetch is never used. */
async function fetchTestServerJars(dir: string, log: Log): Promise<void> {
  log(`Fetching Temporal test server ${TEST_SERVER_VERSION} jars with mvn into ${dir}...`);
  const tmp = join(dir, `lib.tmp-${process.pid}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'pom.xml'), testServerPom());
  await rm(tmp, { recursive: true, force: true });
  try {
    await run(
      'mvn',
      ['-q', '-B', '-Dstyle.color=never', 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`],
      { cwd: dir },
    );
    await rename(tmp, join(dir, 'lib'));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function testServerPom(): string {
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ks.cloud</groupId><artifactId>test-server-fetch</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>${TEST_SERVER_VERSION}</version></dependency>
  </dependencies>
</project>
`;
}

/**
 * Shell lines that make the script's process (after `exec`, the server itself) die with the
 * process that spawned it: Node cannot ask the kernel for that (no PR_SET_PDEATHSIG), and
 * neither our 'exit' handlers nor the SDK's teardown run when Node is killed or crashes.
 */
const DIE_WITH_PARENT = `parent=$PPID
(
  while kill -0 "$parent" 2>/dev/null && kill -0 $$ 2>/dev/null; do sleep 1; done
  if kill -0 $$ 2>/dev/null; then
    kill -TERM $$
    waited=0
    while [ $waited -lt ${STOP_GRACE_MS / 1000} ] && kill -0 $$ 2>/dev/null; do sleep 1; waited=$((waited + 1)); done
    kill -KILL $$ 2>/dev/null
  fi
) </dev/null >/dev/null 2>&1 &
`;

/** The SDK runs `<launcher> <port>`; `exec` makes the SDK's kill reach java itself. */
async function writeTestServerLauncher(dir: string, lib: string): Promise<string> {
  const launcher = join(dir, 'test-server.sh');
  const script = `#!/bin/sh
# Generated by infra/temporal-servers.ts.
# Client JIT and serial GC: the server must answer within the SDK's 5 s start window on a busy machine.
${DIE_WITH_PARENT}exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp ${shellQuote(join(lib, '*'))} io.temporal.testserver.TestServer "$1" --enable-time-skipping
`;
  const current = existsSync(launcher) ? await readFile(launcher, 'utf8') : undefined;
  if (current !== script) {
    const tmp = `${launcher}.tmp-${process.pid}`;
    await writeFile(tmp, script, { mode: 0o755 });
    await rename(tmp, launcher);
  }
  return launcher;
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Serializes builds across processes with an atomic mkdir. Correctness does not depend on it (the
 * results are renamed into place); it only avoids building the same thing twice at once.
 */
async function withLock(lockDir: string, log: Log, fn: () => Promise<void>): Promise<void> {
  await mkdir(dirname(lockDir), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      await mkdir(lockDir, { recursive: false });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await lockHolderDied(lockDir)) {
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!announced) log(`Waiting for another process that holds ${lockDir}...`);
    announced = true;
    await sleep(1_000);
  }
  try {
    await writeFile(join(lockDir, 'pid'), String(process.pid));
    await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

async function lockHolderDied(lockDir: string): Promise<boolean> {
  const pid = Number(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => ''));
  if (!pid) return false; // just created, pid not written yet
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...opts, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? code})`)),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Search attributes
// ---------------------------------------------------------------------------------------------

/** `--search-attribute Name=Type` flags; the CLI spells types like `Keyword`, `Datetime`, `KeywordList`. */
function searchAttributeFlags(): string[] {
  return SEARCH_ATTRIBUTE_KEYS.flatMap((key) => [
    '--search-attribute',
    `${key.name}=${cliTypeName(key.type)}`,
  ]);
}

function cliTypeName(type: string): string {
  return type
    .split('_')
    .map((word) => word.charAt(0) + word.slice(1).toLowerCase())
    .join('');
}

type IndexedValueType = proto.temporal.api.enums.v1.IndexedValueType;
const { IndexedValueType } = proto.temporal.api.enums.v1;

/** Name → indexed value type of every product search attribute: what `addSearchAttributes` takes. */
export const SEARCH_ATTRIBUTES: Readonly<Record<string, IndexedValueType>> = Object.fromEntries(
  SEARCH_ATTRIBUTE_KEYS.map((key) => [key.name, IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`]]),
);

/** Registers every product search attribute that the namespace does not list yet. */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const existing = customAttributes ?? {};
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !(name in existing));
  if (missing.length > 0) await registerSearchAttributes(connection, namespace, Object.fromEntries(missing));
}

async function registerSearchAttributes(
  connection: Connection,
  namespace: string,
  searchAttributes: Record<string, IndexedValueType>,
): Promise<void> {
  await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
}

// ---------------------------------------------------------------------------------------------
// Dev server
// ---------------------------------------------------------------------------------------------

export interface DevServerOptions {
  /** gRPC frontend port; a free one when omitted. */
  port?: number;
  /** Web UI port; a free one when omitted (ignored with `headless`). */
  uiPort?: number;
  /** SQLite file that keeps state across restarts; in-memory when omitted. */
  dbFilename?: string;
  /** Namespace to create and register the search attributes in; `default` when omitted. */
  namespace?: string;
  headless?: boolean;
  /** Receives the server's output lines (not available when the SDK runs its own download). */
  log?: Log;
}

export interface DevServer {
  /** host:port of the gRPC frontend. */
  address: string;
  uiUrl?: string;
  /** SIGTERM, then SIGKILL after a few seconds; resolves once the server has exited. */
  stop(): Promise<void>;
}

/**
 * Starts `temporal server start-dev` on 127.0.0.1 and resolves once its frontend answers and the
 * product search attributes are registered. The server dies with this process even on a crash;
 * long-running callers call `stop()` from their SIGINT/SIGTERM handlers to shut it down cleanly.
 */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const executable = await provisionTemporalCli();
  const namespace = opts.namespace ?? 'default';
  const port = opts.port ?? (await freePort());
  const uiPort = opts.headless ? undefined : (opts.uiPort ?? (await freePort()));
  if (opts.dbFilename) await mkdir(dirname(opts.dbFilename), { recursive: true });
  if (executable.type === 'cached-download') return startSdkDevServer({ ...opts, namespace, port, uiPort });

  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port)];
  args.push(...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort)]));
  if (opts.dbFilename) args.push('--db-filename', opts.dbFilename);
  args.push('--namespace', namespace, ...searchAttributeFlags());

  const server = spawnWithParent(executable.path, args, opts.log);
  const address = `127.0.0.1:${port}`;
  try {
    await waitUntilReady(address, namespace, server);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    address,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    stop: server.stop,
  };
}

interface SpawnedServer {
  child: ChildProcess;
  /** Last output lines, to explain a failed start. */
  outputTail: string[];
  stop(): Promise<void>;
}

function spawnWithParent(command: string, args: string[], log: Log = () => {}): SpawnedServer {
  const child = spawn('/bin/sh', ['-c', `${DIE_WITH_PARENT}exec "$0" "$@"`, command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const outputTail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => {
      outputTail.push(line);
      if (outputTail.length > 40) outputTail.shift();
      log(line);
    });
  }
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { child, outputTail, stop: () => stopChild(child, exited) };
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Polls the frontend until it answers, then makes sure the search attributes are there. */
async function waitUntilReady(address: string, namespace: string, server: SpawnedServer): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      throw new Error(`temporal dev server exited during startup:\n${server.outputTail.join('\n')}`);
    }
    const error = await tryEnsureSearchAttributes(address, namespace);
    if (!error) return;
    if (Date.now() > deadline) {
      throw new Error(
        `temporal dev server not ready on ${address} (${error}):\n${server.outputTail.join('\n')}`,
      );
    }
    await sleep(200);
  }
}

/** One readiness probe; the frontend refuses connections, or the namespace is missing, until it is up. */
async function tryEnsureSearchAttributes(address: string, namespace: string): Promise<string | undefined> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: '1s' });
    await ensureSearchAttributes(connection, namespace);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await connection?.close();
  }
}

/** Without a local CLI, the SDK downloads and runs one (it has no output hook, hence no `log`). */
async function startSdkDevServer(
  opts: DevServerOptions & { namespace: string; port: number },
): Promise<DevServer> {
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: SDK_DOWNLOAD,
      ip: '127.0.0.1',
      port: opts.port,
      ui: opts.uiPort !== undefined,
      uiPort: opts.uiPort,
      dbFilename: opts.dbFilename,
      namespace: opts.namespace,
      searchAttributes: [...SEARCH_ATTRIBUTE_KEYS],
    },
  });
  await ensureSearchAttributes(env.connection, opts.namespace);
  const uiUrl = opts.uiPort === undefined ? undefined : `http://127.0.0.1:${opts.uiPort}`;
  return { address: env.address, uiUrl, stop: () => env.teardown() };
}

// ---------------------------------------------------------------------------------------------
// Test environments
// ---------------------------------------------------------------------------------------------

/**
 * The Java server (grpc-netty defaults) allows a client ping only every 5 minutes and none without a
 * call in flight; the client's 30 s default earns a GOAWAY (too_many_pings) during a long run, and a
 * long `env.sleep` in flight then never answered (seen in bench/lifecycle-year at 1,000 sites).
 */
const javaServerKeepalive: ConnectionPlugin = {
  name: 'java-test-server-keepalive',
  configureConnection: (options) => ({
    ...options,
    channelArgs: {
      ...options.channelArgs,
      'grpc.keepalive_time_ms': 330_000,
      'grpc.keepalive_permit_without_calls': 0,
    },
  }),
};

/**
 * The SDK gives the server 5 s to answer; a JVM on a loaded machine can miss that, so a start that
 * timed out is tried again (a fresh port each time) before the failure is reported.
 */
async function startTimeSkippingServer(
  executable: EphemeralServerExecutable,
): Promise<TestWorkflowEnvironment> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await TestWorkflowEnvironment.createTimeSkipping({
        server: { executable },
        plugins: [javaServerKeepalive],
      });
    } catch (error) {
      const slowStart = error instanceof Error && /did not start within/.test(error.message);
      if (!slowStart || attempt === 3) throw error;
    }
  }
}

/**
 * Java time-skipping test server with the product search attributes registered in `default`.
 * That server does not implement `listSearchAttributes`, so they are added unconditionally.
 */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const executable = await provisionTestServer();
  const env = await startTimeSkippingServer(executable);
  try {
    await registerSearchAttributes(env.connection, 'default', SEARCH_ATTRIBUTES);
    // The standalone server starts with time skipping unlocked, so time would race ahead whenever the
    // system is idle. Locked, it moves only inside env.sleep() and while a client awaits a result.
    await env.connection.testService?.lockTimeSkipping({});
  } catch (error) {
    await env.teardown();
    throw error;
  }
  return env;
}

/** A headless dev server (full server semantics, real time) on free ports, namespace `default`. */
export async function createDevServerEnv(): Promise<{
  env: TestWorkflowEnvironment;
  server: DevServer;
  teardown(): Promise<void>;
}> {
  const server = await startDevServer({ headless: true });
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address }).catch(
    async (error: unknown) => {
      await server.stop();
      throw error;
    },
  );
  const teardown = async () => {
    try {
      await env.teardown();
    } finally {
      await server.stop();
    }
  };
  return { env, server, teardown };
}
