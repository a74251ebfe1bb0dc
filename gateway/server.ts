import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type postgres from 'postgres';
import type { Registry } from 'prom-client';
import type { Db } from '../db/client';
import {
  registerGatewayInstance,
  removeGatewayInstance,
  touchGatewayInstance,
} from '../db/queries/gateway-instances';
import {
  iqsBehindOnAccess,
  markInstanceOffline,
  markIqOffline,
  subscribedFlags,
  sweepStaleIqs,
  touchIqs,
} from '../db/queries/iqs';
import { DEVICE_REPORTS } from '../domain/device-events';
import type { ThrottlePolicy } from '../domain/throttling';
import { errorField, logger } from '../observability/logger';
import { createAccessBatches } from './access-batches';
import { type Command, isValidInstanceId, listenForCommands, type OpenOutcome } from './command-bus';
import { defaultCommandSecret } from './command-channel';
import { type OpenCommand, serveCommands } from './command-endpoint';
import { DeviceConnection, type GatewayContext } from './connection';
import { DEFAULT_HELLO_GUARD, HelloGuard, type HelloGuardOptions } from './hello-guard';
import { createGatewayMetrics } from './metrics';
import { serialize } from './protocol';
import { createWriteLanes } from './write-lanes';

export interface GatewayOptions {
  db: Db;
  sql: postgres.Sql;
  /** 0 picks a free port (tests). */
  ports: number[];
  /** Names this instance's command channel; letters, digits, `_` and `-`. */
  instanceId: string;
  heartbeatSeconds: number;
  openTimeoutMs?: number;
  host?: string;
  /** After a device event was queued for the owner's notification (K6). */
  onNotificationQueued?: GatewayContext['onNotificationQueued'];
  /** API.md: 10 s. */
  helloTimeoutMs?: number;
  /** Unacknowledged access versions are sent again after this long (doubling); default 10 s. */
  accessAckTimeoutMs?: number;
  /** The pace of each connection's reports (domain/device-events.ts DEVICE_REPORTS unless given). */
  deviceReports?: ThrottlePolicy;
  /** Connections per address and failed-hello throttle; tests and benches connect thousands from 127.0.0.1. */
  guard?: Partial<HelloGuardOptions>;
  /** Where this instance's Prometheus metrics go (connected IQs, commands, messages); none when omitted. */
  metrics?: Registry;
  /**
   * The internal command endpoint (remote openings): its address (default loopback), port (default
   * any free one; the instance's row names the one it got), the host name callers use (default the
   * address) and the shared secret (default: GATEWAY_COMMAND_SECRET or this process's own).
   */
  command?: { host?: string; port?: number; advertisedHost?: string | undefined; secret?: string };
}

export interface RunningGateway {
  ports: number[];
  instanceId: string;
  /** Where this instance's command endpoint is reached (tcp://host:port). */
  commandUrl: string;
  /** Opens a lock through the IQ's connection on this instance (the command endpoint's opens come here). */
  openLock(target: OpenCommand): Promise<OpenOutcome>;
  stop(): Promise<void>;
}

const DEFAULT_OPEN_TIMEOUT_MS = 5_000;
const DEFAULT_HELLO_TIMEOUT_MS = 10_000;
const DEFAULT_ACCESS_ACK_TIMEOUT_MS = 10_000;

/** The device gateway (F1): TCP listeners, the IQs' connections, and this instance's command channel. */
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  if (!isValidInstanceId(opts.instanceId)) throw new Error('instanceId: letters, digits, _ and - (≤40)');
  const { db, sql, instanceId, heartbeatSeconds } = opts;
  const lanes = createWriteLanes();
  const ctx: GatewayContext = {
    db,
    instanceId,
    heartbeatSeconds,
    openTimeoutMs: opts.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS,
    helloTimeoutMs: opts.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS,
    accessAckTimeoutMs: opts.accessAckTimeoutMs ?? DEFAULT_ACCESS_ACK_TIMEOUT_MS,
    guard: new HelloGuard({ ...DEFAULT_HELLO_GUARD, ...opts.guard }),
    deviceReports: opts.deviceReports ?? DEVICE_REPORTS,
    accessBatches: createAccessBatches(db, (error) =>
      logger.error({ err: errorField(error) }, 'access ack write failed'),
    ),
    registry: new Map(),
    seen: new Set(),
    write: lanes.one,
    markOffline: (iqId) => lanes.one(iqId, () => markIqOffline(db, iqId, instanceId)),
    onNotificationQueued: opts.onNotificationQueued,
  };
  if (opts.metrics) ctx.metrics = createGatewayMetrics(opts.metrics, () => ctx.registry.size);

  // Rows left "online" by an earlier run under this id are stale: none of those sockets exist now.
  await markInstanceOffline(db, instanceId);
  // What a failed start has set up is taken down again, last first: a port already taken must not
  // leave this instance's row, LISTEN connection or command endpoint behind.
  const undo: Array<() => Promise<unknown>> = [];
  const undoAll = async () => {
    for (const step of undo.reverse()) await step().catch(() => {});
  };
  const commands = await serveCommands({
    host: opts.command?.host ?? '127.0.0.1',
    port: opts.command?.port ?? 0,
    advertisedHost: opts.command?.advertisedHost,
    secret: opts.command?.secret ?? defaultCommandSecret(),
    open: (target) => {
      ctx.metrics?.command('open');
      return openLock(ctx, target);
    },
  });
  undo.push(() => commands.close());
  let unlisten: Awaited<ReturnType<typeof listenForCommands>>;
  try {
    undo.push(() => removeGatewayInstance(db, instanceId));
    await registerGatewayInstance(db, instanceId, commands.url);
    unlisten = await listenForCommands(sql, instanceId, (command) => {
      ctx.metrics?.command(command.kind);
      handleCommand(ctx, command).catch((error: unknown) => {
        logger.error({ kind: command.kind, err: errorField(error) }, 'bus command failed');
      });
    });
  } catch (error) {
    await undoAll();
    throw error;
  }
  undo.push(unlisten);

  const connections = new Map<DeviceConnection, Promise<void>>();
  const listening = await Promise.allSettled(
    opts.ports.map((port) =>
      listen(port, opts.host ?? '0.0.0.0', (socket) => {
        const address = socket.remoteAddress ?? 'unknown';
        if (!ctx.guard.admit(address)) {
          socket.on('error', () => {});
          socket.end(serialize({ type: 'error', code: 'throttled' }));
          setTimeout(() => socket.destroy(), 1_000).unref();
          return;
        }
        const connection = new DeviceConnection(socket, ctx);
        connections.set(connection, connection.closed);
        // Not awaited: the registry forgets the connection whenever it closes.
        void connection.closed.then(() => {
          connections.delete(connection);
          ctx.guard.release(address);
        });
      }),
    ),
  );
  const servers = listening.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const refused = listening.find((result) => result.status === 'rejected');
  if (refused) {
    await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
    await undoAll();
    throw refused.reason;
  }

  // lastSeenAt is flushed in one statement a heartbeat, not written per heartbeat; the sweep turns
  // IQs of an instance that died without closing its sockets offline (one flush of slack).
  const flush = setInterval(() => {
    const ids = [...ctx.seen];
    ctx.seen.clear();
    lanes
      .all(async () => {
        await touchIqs(db, ids, instanceId);
        await sweepStaleIqs(db, 4 * heartbeatSeconds);
        await touchGatewayInstance(db, instanceId, 4 * heartbeatSeconds);
        // K5, K7: a subscribed flag whose push was lost (an API gone between its commit and its
        // NOTIFY, a dropped LISTEN connection) still reaches the IQ, and one subscribed again catches
        // up; each connection sends only a flag that differs from what its IQ last heard.
        for (const [id, flag] of await subscribedFlags(db, [...ctx.registry.keys()])) {
          ctx.registry.get(id)?.pushSubscribed(flag);
        }
        // K7: a version whose bus message was lost still goes out.
        for (const { id, version } of await iqsBehindOnAccess(db, instanceId)) {
          ctx.registry.get(id)?.accessChanged(version);
        }
      })
      .catch((error: unknown) => logger.error({ err: errorField(error) }, 'liveness flush failed'));
  }, heartbeatSeconds * 1000);

  return {
    ports: servers.map((s) => (s.address() as { port: number }).port),
    instanceId,
    commandUrl: commands.url,
    openLock: (target) => openLock(ctx, target),
    async stop() {
      clearInterval(flush);
      // Callers find no endpoint from now on: their opens answer offline, as the IQs will be.
      await removeGatewayInstance(db, instanceId);
      // A server closes only once its connections have: stop accepting, then end them, then wait.
      const stopped = Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
      const closing = [...connections.values()];
      for (const connection of connections.keys()) connection.destroy();
      await Promise.all(closing);
      await stopped;
      // After the connections: opens that were waiting on them have answered (`timeout`: sent, unanswered).
      await commands.close();
      await ctx.accessBatches.flushed();
      await unlisten();
      await lanes.all(() => markInstanceOffline(db, instanceId));
    },
  };
}

function listen(port: number, host: string, onSocket: (socket: Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(onSocket);
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      // A failing accept must not take the process down.
      server.on('error', (error) => logger.error({ err: errorField(error) }, 'listener error'));
      resolve(server);
    });
  });
}

/** An IQ this instance does not hold is offline from here. */
function openLock(ctx: GatewayContext, { iqId, requestId, ...open }: OpenCommand): Promise<OpenOutcome> {
  const connection = ctx.registry.get(iqId);
  if (!connection) return Promise.resolve({ outcome: 'offline' });
  return connection.open({ requestId: requestId ?? randomUUID(), ...open });
}

async function handleCommand(ctx: GatewayContext, command: Command) {
  switch (command.kind) {
    case 'sync-subscription': {
      const here = command.iqIds.filter((id) => ctx.registry.has(id));
      const flags = await subscribedFlags(ctx.db, here);
      for (const [iqId, flag] of flags) ctx.registry.get(iqId)?.pushSubscribed(flag);
      return;
    }
    case 'update': {
      const { kind: _, iqId, ...update } = command;
      ctx.registry.get(iqId)?.sendUpdate({ type: 'update', ...update });
      return;
    }
    case 'access-sync': {
      for (const [i, iqId] of command.iqIds.entries()) {
        ctx.registry.get(iqId)?.accessChanged(command.versions[i]!);
      }
      return;
    }
  }
}
