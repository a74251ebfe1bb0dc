import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { AccessGrant } from '../domain/access-sync';
import { devicePinKey, devicePinMatches } from '../domain/device-pin';
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

/** Openings at the doors, as people would try them (K8): each is decided by the IQ's own list. */
export interface OpeningBehaviour {
  perMinute: number;
  /** Share of attempts with a credential the IQ does not hold (an unknown tag, a wrong PIN); default 0.2. */
  refusedShare?: number;
  /** Locks to try besides those the IQ's list names. */
  lockIds?: string[];
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
  /** The access list the IQ holds when it starts; without one it says no version and gets a full list. */
  access?: { version: number; grants: AccessGrant[] };
  /** An access version is applied at once and acknowledged this much later (to test a lost ack). */
  ackDelayMs?: number;
  openings?: OpeningBehaviour;
  /** Events kept while offline; beyond it the oldest are dropped, as a device's memory would. */
  maxBufferedEvents?: number;
}

export interface OpenAttempt {
  opened: boolean;
  credentialId?: string;
  eventId: string;
}

export interface SimulatedIq {
  readonly serial: string;
  readonly firmware: string;
  /** As the gateway last said; undefined before the first welcome. */
  readonly subscribed: boolean | undefined;
  readonly connected: boolean;
  /** The latest messages from the gateway, oldest first (bounded). */
  readonly received: readonly GatewayMessage[];
  /** K7: the version of the list the IQ holds (undefined: none yet) and the list, by credential id. */
  readonly accessVersion: number | undefined;
  readonly accessList: ReadonlyMap<string, AccessGrant>;
  /** Deltas ignored because they did not follow the version held. */
  readonly refusedAccess: number;
  /** Events not acknowledged yet (buffered while offline), oldest first. */
  readonly pendingEvents: readonly DeviceEvent[];
  /** Resolves with the first message (already received or still to come) that matches. */
  waitFor(match: (message: GatewayMessage) => boolean, timeoutMs?: number): Promise<GatewayMessage>;
  /** Reports an event of a lock (buffered until acknowledged); returns its event id. */
  sendEvent(lockId: string, kind: DeviceEventKind, opts?: { credentialId?: string }): string;
  /** Someone holds a tag to a lock's reader: opened or refused by the IQ's own list, and reported. */
  presentTag(lockId: string, tagUid: string): OpenAttempt;
  enterPin(lockId: string, pin: string): OpenAttempt;
  presentMobileKey(lockId: string, credentialId: string): OpenAttempt;
  /** Drops the connection as a power cut would; reconnects if reconnect is on. */
  disconnect(): void;
  /** Unplugged: no connection until goOnline; the list and the buffered events stay. */
  goOffline(): Promise<void>;
  goOnline(): void;
  stop(): Promise<void>;
}

type DeviceEvent = Extract<DeviceMessage, { type: 'event' }>;

const KEPT_MESSAGES = 200;
const DEFAULT_MAX_BUFFERED_EVENTS = 10_000;

/** One IQ speaking the real protocol over TCP; resolves once the gateway welcomed it. */
export function startSimulatedIq(opts: SimulatedIqOptions): Promise<SimulatedIq> {
  const random = opts.random ?? Math.random;
  const pinKey = devicePinKey(opts.secret);
  let firmware = opts.firmware;
  let subscribed: boolean | undefined;
  let socket: Socket | undefined;
  let welcomed = false;
  let stopped = false;
  let unplugged = false;
  let attempt = 0;
  let heartbeat: NodeJS.Timeout | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let openingTimer: NodeJS.Timeout | undefined;
  const received: GatewayMessage[] = [];
  const watchers = new Set<(message: GatewayMessage) => void>();
  /** Updates in progress, by updateId, with the connection each arrived on. */
  const running = new Map<string, Socket | undefined>();
  let started: { resolve(): void; reject(error: Error): void } | undefined;
  let accessVersion = opts.access?.version;
  const accessList = new Map((opts.access?.grants ?? []).map((g) => [g.credentialId, g]));
  let refusedAccess = 0;
  const pending: DeviceEvent[] = [];

  const send = (message: DeviceMessage) => {
    if (socket && !socket.destroyed) socket.write(serialize(message));
  };
  const sendWelcomed = (message: DeviceMessage) => {
    if (welcomed) send(message);
  };

  const ack = (version: number) => {
    const current = socket;
    const go = () => {
      if (socket === current) sendWelcomed({ type: 'access-ack', version });
    };
    if (opts.ackDelayMs) setTimeout(go, opts.ackDelayMs);
    else go();
  };

  /** K7 as a device applies it: a full list replaces; a delta applies only on the version it follows. */
  const applyAccess = (message: Extract<GatewayMessage, { type: 'access' }>) => {
    if (message.full) {
      accessList.clear();
    } else if (accessVersion === undefined || message.version !== accessVersion + 1) {
      // Already held: say so again. Out of order: ignored; the next hello reports the real version.
      if (accessVersion !== undefined && message.version <= accessVersion) ack(accessVersion);
      else refusedAccess++;
      return;
    }
    for (const id of message.revokes) accessList.delete(id);
    for (const grant of message.grants) accessList.set(grant.credentialId, grant);
    accessVersion = message.version;
    ack(message.version);
  };

  const report = (event: Omit<DeviceEvent, 'type' | 'eventId' | 'at'>): string => {
    const full: DeviceEvent = {
      type: 'event',
      eventId: randomUUID(),
      at: new Date().toISOString(),
      ...event,
    };
    pending.push(full);
    if (pending.length > (opts.maxBufferedEvents ?? DEFAULT_MAX_BUFFERED_EVENTS)) pending.shift();
    sendWelcomed(full);
    return full.eventId as string;
  };

  /** The lock decides by what the IQ holds, whatever the subscription (V6: the locks keep working). */
  const attemptOpen = (lockId: string, grant: AccessGrant | undefined): OpenAttempt => {
    const opened = grant?.lockIds.includes(lockId) === true;
    const eventId = report({
      lockId,
      kind: opened ? 'opened' : 'open_refused',
      ...(grant ? { credentialId: grant.credentialId } : {}),
    });
    return { opened, eventId, ...(grant ? { credentialId: grant.credentialId } : {}) };
  };
  const grants = () => [...accessList.values()];
  const presentTag = (lockId: string, tagUid: string) =>
    attemptOpen(
      lockId,
      grants().find((g) => g.kind === 'tag' && g.tagUid === tagUid),
    );
  const enterPin = (lockId: string, pin: string) =>
    attemptOpen(
      lockId,
      grants().find(
        (g) => g.kind === 'pin' && g.pinHash && devicePinMatches(pinKey, g.credentialId, pin, g.pinHash),
      ),
    );
  const presentMobileKey = (lockId: string, credentialId: string) => {
    const grant = accessList.get(credentialId);
    return attemptOpen(lockId, grant?.kind === 'mobile_key' ? grant : undefined);
  };

  const randomOpening = (behaviour: OpeningBehaviour) => {
    const locks = [...new Set([...grants().flatMap((g) => g.lockIds), ...(behaviour.lockIds ?? [])])];
    if (locks.length === 0) return;
    const lockId = locks[Math.floor(random() * locks.length)]!;
    const held = grants().filter((g) => g.kind === 'tag' || g.kind === 'mobile_key');
    if (held.length === 0 || random() < (behaviour.refusedShare ?? 0.2)) {
      if (random() < 0.5) presentTag(lockId, `UNKNOWN-${Math.floor(random() * 1e9)}`);
      else enterPin(lockId, String(Math.floor(random() * 1e6)).padStart(6, '0'));
      return;
    }
    const grant = held[Math.floor(random() * held.length)]!;
    if (grant.kind === 'tag') presentTag(lockId, grant.tagUid ?? '');
    else presentMobileKey(lockId, grant.credentialId);
  };
  if (opts.openings && opts.openings.perMinute > 0) {
    const behaviour = opts.openings;
    openingTimer = setInterval(() => randomOpening(behaviour), 60_000 / behaviour.perMinute);
  }

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
        // K8: what was buffered goes up in its order, with its original times.
        for (const event of pending) send(event);
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
      case 'access':
        applyAccess(message);
        return;
      case 'event-ack': {
        const at = pending.findIndex((e) => e.eventId === message.eventId);
        if (at !== -1) pending.splice(at, 1);
        return;
      }
      case 'update': {
        // The same update again on this connection is a duplicate; an update this IQ was running
        // over an earlier connection was lost with it (as on a device), so it starts over.
        const current = socket;
        if (running.get(message.updateId) === current) return;
        running.set(message.updateId, current);
        // Runs beside the connection, as a device installs while it keeps talking; it reports by message.
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
      send({
        type: 'hello',
        serial: opts.serial,
        secret: opts.secret,
        model: opts.model,
        firmware,
        ...(accessVersion !== undefined ? { accessVersion } : {}),
      }),
    );
    own.on('data', (chunk: Buffer) => {
      const lines = reader.push(chunk);
      if (lines === 'overflow') {
        own.destroy();
        return;
      }
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
      if (stopped || unplugged || opts.reconnect === false) return;
      // Backoff with jitter: a restarted gateway is not stormed by every IQ at once.
      const delay = Math.min(5_000, 100 * 2 ** attempt++) * (0.5 + random() / 2);
      reconnectTimer = setTimeout(connectOnce, delay);
    });
  };

  const closeSocket = async () => {
    clearTimeout(reconnectTimer);
    clearInterval(heartbeat);
    const last = socket;
    if (!last || last.destroyed) return;
    await new Promise<void>((done) => {
      last.once('close', () => done());
      last.destroy();
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
    get accessVersion() {
      return accessVersion;
    },
    accessList,
    get refusedAccess() {
      return refusedAccess;
    },
    pendingEvents: pending,
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
    sendEvent: (lockId, kind, eventOpts = {}) => report({ lockId, kind, ...eventOpts }),
    presentTag,
    enterPin,
    presentMobileKey,
    disconnect: () => socket?.destroy(),
    async goOffline() {
      unplugged = true;
      await closeSocket();
    },
    goOnline() {
      if (!unplugged || stopped) return;
      unplugged = false;
      attempt = 0;
      connectOnce();
    },
    async stop() {
      stopped = true;
      clearInterval(openingTimer);
      await closeSocket();
    },
  };

  return new Promise<SimulatedIq>((resolve, reject) => {
    const timer = setTimeout(() => {
      void iq.stop(); // the caller gets the rejection; the half-started IQ is torn down regardless
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
