import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection, type ConnectionPlugin } from '@temporalio/client';
import proto from '@temporalio/proto';
import { type EphemeralServerExecutable, TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTE_KEYS } from '../workflows/search-attributes';
import { freePort } from './free-port';
import { type Log, type SpawnedServer, spawnWithParent } from './server-process';
import { provisionTemporalCli, provisionTestServer, SDK_DOWNLOAD } from './temporal-binaries';

const READY_TIMEOUT_MS = 60_000;

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
  uiPort?: number | undefined;
  /** SQLite file that keeps state across restarts; in-memory when omitted. */
  dbFilename?: string;
  /** Namespace to create and register the search attributes in; `default` when omitted. */
  namespace?: string;
  headless?: boolean;
  /** Receives the server's output lines (not available when the SDK runs its own download). */
  log?: Log | undefined;
}

export interface DevServer {
  /** host:port of the gRPC frontend. */
  address: string;
  uiUrl?: string | undefined;
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

  const server = spawnWithParent(executable.path, args, { log: opts.log });
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
      ...(opts.uiPort !== undefined ? { uiPort: opts.uiPort } : {}),
      ...(opts.dbFilename !== undefined ? { dbFilename: opts.dbFilename } : {}),
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
 * The time-skipping environment on a Java test server this process starts and waits for. The SDK's
 * own start gives the JVM 5 s to answer, which a loaded machine misses (CI runs many test files at
 * once); here it gets READY_TIMEOUT_MS. Only the SDK's download (no local Java) goes through the SDK.
 */
async function startTimeSkippingServer(
  executable: EphemeralServerExecutable,
): Promise<TestWorkflowEnvironment> {
  if (executable.type !== 'existing-path') {
    return TestWorkflowEnvironment.createTimeSkipping({
      server: { executable },
      plugins: [javaServerKeepalive],
    });
  }
  const port = await freePort();
  // The arguments the SDK passes to a test server binary.
  const server = spawnWithParent(executable.path, [String(port), '--enable-time-skipping']);
  const address = `127.0.0.1:${port}`;
  try {
    await waitForTestServer(address, server);
    const env = await connectTimeSkippingEnv(address);
    const teardown = env.teardown.bind(env);
    env.teardown = async () => {
      try {
        await teardown();
      } finally {
        await server.stop();
      }
    };
    return env;
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function waitForTestServer(address: string, server: SpawnedServer): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      throw new Error(`temporal test server exited during startup:\n${server.outputTail.join('\n')}`);
    }
    try {
      await (await Connection.connect({ address, connectTimeout: '1s' })).close();
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(
          `temporal test server not ready on ${address} (${error}):\n${server.outputTail.join('\n')}`,
        );
      }
      await sleep(200);
    }
  }
}

/**
 * The SDK has no public way to open a time-skipping environment on a server it did not start; its
 * private `create` is what `createTimeSkipping` runs after starting one.
 */
function connectTimeSkippingEnv(address: string): Promise<TestWorkflowEnvironment> {
  const sdk = TestWorkflowEnvironment as unknown as {
    create(opts: object): Promise<TestWorkflowEnvironment>;
  };
  return sdk.create({
    server: { type: 'existing' },
    address,
    namespace: 'default',
    plugins: [javaServerKeepalive],
    supportsTimeSkipping: true,
  });
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
