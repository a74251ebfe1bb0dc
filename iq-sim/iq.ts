import { connect, type Socket } from 'node:net';
import { LineReader } from '../gateway/line-reader';
import type { DeviceEventKind } from '../gateway/protocol';
import { type DeviceMessage, type GatewayMessage, parseGatewayMessage, serialize } from '../gateway/protocol';
import { runUpdate, type UpdateBehaviour } from './update';

export interface IqCredentials {
  serial: string;
  secret: string;
  model: string;
  firmware: string;
}

export interface SimulatedIqOptions extends IqCredentials {
  host?: string;
  /** Tried in turn on each (re)connect, like a device configured with both gateway ports. */
  ports: number[];
  /** Delay before answering an open command. */
  latencyMs?: number;
  /** false: the IQ never sends heartbeats (to test the gateway's liveness check). */
  heartbeats?: boolean;
  /** Reconnect after the connection drops (default true); never after auth_failed. */
  reconnect?: boolean;
  update?: UpdateBehaviour;
  random?: () => number;
  /** How long start waits for the first welcome. */
  connectTimeoutMs?: number;
}

export interface SimulatedIq {
  readonly serial: string;
  readonly firmware: string;
  /** As the gateway last said; undefined before the first welcome. */
  readonly subscribed: boolean | undefined;
  readonly connected: boolean;
  /** The latest messages from the gateway, oldest first (bounded). */
  readonly received: readonly GatewayMessage[];
  /** Resolves with the first message (already received or still to come) that matches. */
  waitFor(match: (message: GatewayMessage) => boolean, timeoutMs?: number): Promise<GatewayMessage>;
  sendEvent(lockId: string, kind: DeviceEventKind): void;
  /** Drops the connection as a power cut would; reconnects if reconnect is on. */
  disconnect(): void;
  stop(): Promise<void>;
}

const KEPT_MESSAGES = 200;

/** One IQ speaking the real protocol over TCP; resolves once the gateway welcomed it. */
export function startSimulatedIq(opts: SimulatedIqOptions): Promise<SimulatedIq> {
  const random = opts.random ?? Math.random;
  let firmware = opts.firmware;
  let subscribed: boolean | undefined;
  let socket: Socket | undefined;
  let welcomed = false;
  let stopped = false;
  let attempt = 0;
  let heartbeat: NodeJS.Timeout | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  const received: GatewayMessage[] = [];
  const watchers = new Set<(message: GatewayMessage) => void>();
  /** Updates in progress, by updateId, with the connection each arrived on. */
  const running = new Map<string, Socket | undefined>();
  let started: { resolve(): void; reject(error: Error): void } | undefined;

  const send = (message: DeviceMessage) => {
    if (socket && !socket.destroyed) socket.write(serialize(message));
  };

  const onMessage = (message: GatewayMessage) => {
    received.push(message);
    if (received.length > KEPT_MESSAGES) received.shift();
    for (const watch of watchers) watch(message);
    switch (message.type) {
      case 'welcome':
        welcomed = true;
        subscribed = message.subscribed;
        attempt = 0;
        if (opts.heartbeats !== false) {
          heartbeat = setInterval(() => send({ type: 'heartbeat' }), message.heartbeatSeconds * 1000);
        }
        started?.resolve();
        return;
      case 'subscription':
        subscribed = message.subscribed;
        return;
      case 'error':
        if (message.code === 'auth_failed') {
          stopped = true;
          started?.reject(new Error(`IQ ${opts.serial}: auth_failed`));
        }
        return;
      case 'open': {
        // Decided when the command arrives, as a device would: an unsubscribed IQ opens nothing (K5).
        const result: DeviceMessage = subscribed
          ? { type: 'open-result', requestId: message.requestId, ok: true }
          : { type: 'open-result', requestId: message.requestId, ok: false, reason: 'unsubscribed' };
        setTimeout(() => send(result), opts.latencyMs ?? 0);
        return;
      }
      case 'update': {
        // The same update again on this connection is a duplicate; an update this IQ was running
        // over an earlier connection was lost with it (as on a device), so it starts over.
        const current = socket;
        if (running.get(message.updateId) === current) return;
        running.set(message.updateId, current);
        void runUpdate(message, opts.update ?? {}, random, (status) =>
          send({ type: 'update-status', updateId: message.updateId, ...status }),
        ).then((ok) => {
          if (running.get(message.updateId) === current) running.delete(message.updateId);
          if (!ok || current !== socket) return;
          // Success is reported the protocol's way: back with hello on the new version.
          firmware = message.version;
          current?.destroy();
        });
        return;
      }
    }
  };

  const connectOnce = () => {
    const port = opts.ports[attempt % opts.ports.length]!;
    const reader = new LineReader();
    const own = connect({ host: opts.host ?? '127.0.0.1', port });
    socket = own;
    own.setNoDelay(true);
    own.on('connect', () =>
      send({ type: 'hello', serial: opts.serial, secret: opts.secret, model: opts.model, firmware }),
    );
    own.on('data', (chunk: Buffer) => {
      const lines = reader.push(chunk);
      if (lines === 'overflow') return own.destroy();
      for (const line of lines) {
        const parsed = parseGatewayMessage(line);
        if (parsed.ok) onMessage(parsed.message);
      }
    });
    own.on('error', () => {});
    own.on('close', () => {
      if (socket !== own) return;
      welcomed = false;
      clearInterval(heartbeat);
      if (stopped || opts.reconnect === false) return;
      // Backoff with jitter: a restarted gateway is not stormed by every IQ at once.
      const delay = Math.min(5_000, 100 * 2 ** attempt++) * (0.5 + random() / 2);
      reconnectTimer = setTimeout(connectOnce, delay);
    });
  };

  const iq: SimulatedIq = {
    serial: opts.serial,
    get firmware() {
      return firmware;
    },
    get subscribed() {
      return subscribed;
    },
    get connected() {
      return welcomed;
    },
    received,
    waitFor(match, timeoutMs = 10_000) {
      const seen = received.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(watch);
          reject(new Error(`IQ ${opts.serial}: no matching message within ${timeoutMs} ms`));
        }, timeoutMs);
        const watch = (message: GatewayMessage) => {
          if (!match(message)) return;
          clearTimeout(timer);
          watchers.delete(watch);
          resolve(message);
        };
        watchers.add(watch);
      });
    },
    sendEvent: (lockId, kind) => send({ type: 'event', lockId, kind }),
    disconnect: () => socket?.destroy(),
    async stop() {
      stopped = true;
      clearTimeout(reconnectTimer);
      clearInterval(heartbeat);
      const last = socket;
      if (!last || last.destroyed) return;
      await new Promise<void>((done) => {
        last.once('close', () => done());
        last.destroy();
      });
    },
  };

  return new Promise<SimulatedIq>((resolve, reject) => {
    const timer = setTimeout(() => {
      void iq.stop();
      reject(new Error(`IQ ${opts.serial}: no welcome within ${opts.connectTimeoutMs ?? 10_000} ms`));
    }, opts.connectTimeoutMs ?? 10_000);
    started = {
      resolve: () => {
        clearTimeout(timer);
        started = undefined;
        resolve(iq);
      },
      reject: (error) => {
        clearTimeout(timer);
        started = undefined;
        reject(error);
      },
    };
    connectOnce();
  });
}
