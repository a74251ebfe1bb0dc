import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { Db } from '../db/client';
import { recordEvent, recordUpdateStatus } from '../db/queries/events';
import { findIqBySerial, markIqOnline, type SubscribedFlag, subscribedFlags } from '../db/queries/iqs';
import { findSiteLock } from '../db/queries/locks';
import { recordDeviceEventForOwner } from '../db/queries/notification-outbox';
import { findIqCredential } from '../db/queries/people';
import { recordUpdateFailure, updateInFlight } from '../db/queries/rollouts';
import { deviceEventTime } from '../domain/device-events';
import { parseUpdateId } from '../domain/rollout';
import { deviceSecretMatches, hashDeviceSecret } from '../domain/secrets';
import { decideAttempt, type ThrottlePolicy } from '../domain/throttling';
import { errorField, logger } from '../observability/logger';
import type { AccessBatches } from './access-batches';
import { AccessSender } from './access-sender';
import type { OpenOutcome } from './command-bus';
import type { HelloGuard } from './hello-guard';
import { LineReader } from './line-reader';
import type { GatewayMetrics } from './metrics';
import { type DeviceMessage, type GatewayMessage, parseDeviceMessage, serialize } from './protocol';

/** What every connection of one gateway instance shares. */
export interface GatewayContext {
  db: Db;
  instanceId: string;
  heartbeatSeconds: number;
  openTimeoutMs: number;
  /** A connection that has not said a valid hello by then is closed (API.md: 10 s). */
  helloTimeoutMs: number;
  /** K7: sent access versions unacknowledged this long are sent again. */
  accessAckTimeoutMs: number;
  guard: HelloGuard;
  /** The pace of each connection's reports (events, update statuses): they cost the database. */
  deviceReports: ThrottlePolicy;
  /** K7 reads and ack writes of this instance's IQs, gathered into few statements. */
  accessBatches: AccessBatches;
  /** The connection holding each IQ on this instance. */
  registry: Map<string, DeviceConnection>;
  /** IQs heard from since the last flush of lastSeenAt. */
  seen: Set<string>;
  /** Writes of one IQ's row, in order per IQ (gateway/write-lanes.ts). */
  write<T>(iqId: string, task: () => Promise<T>): Promise<T>;
  markOffline(iqId: string): Promise<void>;
  /** Called after a device event was queued for the owner's notification (K6): hand it over. */
  onNotificationQueued?: (() => void) | undefined;
  metrics?: GatewayMetrics | undefined;
}

interface Authenticated {
  id: string;
  siteId: string;
  registeredAtMs: number;
}

// A hello answer takes about as long for an unknown serial as for a known one.
const DUMMY_HASH = hashDeviceSecret('no such device');
/** Lines waiting for their turn before the socket stops reading: a flood cannot grow memory. */
const MAX_QUEUED_LINES = 64;
/** Lines handled before other connections get a turn of the event loop. */
const LINES_PER_TURN = 64;
/** Unsent bytes past which the device's next line waits until it has read them. */
const OUTPUT_HIGH_WATER = 64 * 1024;
/** Unsent bytes past which the device is not reading at all: closed (it catches up when it reconnects). */
const MAX_UNSENT_BYTES = 16 * 1024 * 1024;
const CLOSE_GRACE_MS = 1_000;
/** Timed-out opens whose late answer is still recorded (K4, K8); older ones are forgotten first. */
const MAX_TIMED_OUT_OPENS = 64;

/** One IQ's TCP connection: authentication, liveness, and the messages it may send. */
export class DeviceConnection {
  private readonly reader = new LineReader();
  /** Lines read and not handled yet, from `nextLine` on. */
  private lines: string[] = [];
  private nextLine = 0;
  /** The loop handling `lines`, while it runs. */
  private handling: Promise<void> | undefined;
  /** Settles when the socket closes. */
  private readonly socketClosed: Promise<void>;
  private iq?: Authenticated;
  /** The subscribed flag the IQ last heard; undefined until its welcome. */
  private subscribed?: boolean;
  private resyncAfterWelcome = false;
  private liveness?: NodeJS.Timeout;
  private helloDeadline?: NodeJS.Timeout;
  private access?: AccessSender;
  /** A version announced between registering and reading the IQ's row: looked at once started. */
  private accessChangedBeforeStart?: number;
  private closing = false;
  /** The peer's address, for the hello throttle and the per-address cap. */
  readonly address: string;
  private readonly pendingOpens = new Map<string, (outcome: OpenOutcome) => void>();
  /**
   * Opens answered `timeout` whose member is known, by requestId: the IQ may still open the door and
   * say so, and that opening belongs in the audit trail beside the timeout (K4, K8).
   */
  private readonly timedOutOpens = new Map<string, { lockId: string; actorProfileId: string }>();
  /** Where the pace of this connection's reports stands (domain/throttling.ts GCRA). */
  private reportsTatMs: number | undefined;
  /** F7: an update that arrived while a lock was being opened, sent once no open awaits its answer. */
  private heldUpdate: GatewayMessage | undefined;
  /** Settles once the socket closed and the IQ's row says so. */
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: GatewayContext,
  ) {
    this.address = socket.remoteAddress ?? 'unknown';
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {}); // 'close' follows and does the cleanup.
    this.socketClosed = new Promise((done) => socket.once('close', () => done()));
    // `closed` settles once the close is handled; onClose catches its own errors.
    this.closed = new Promise((done) => socket.once('close', () => void this.onClose().finally(done)));
    // No valid hello in time: a failed hello, and the socket goes.
    this.helloDeadline = setTimeout(() => {
      ctx.guard.failed(this.address);
      socket.destroy();
    }, ctx.helloTimeoutMs);
  }

  get iqId() {
    return this.iq?.id;
  }

  send(message: GatewayMessage) {
    if (this.closing || this.socket.destroyed) return;
    this.socket.write(serialize(message));
    this.ctx.metrics?.sent(message.type);
    if (this.socket.writableLength > MAX_UNSENT_BYTES) this.socket.destroy();
  }

  /** Sends the open command and waits for the IQ's open-result. */
  open({
    requestId,
    lockId,
    actorProfileId,
  }: {
    requestId: string;
    lockId: string;
    actorProfileId?: string | undefined;
  }): Promise<OpenOutcome> {
    // Closing but not yet let go of: nothing can be sent, so nothing can have opened.
    if (this.closing || this.socket.destroyed) return Promise.resolve({ outcome: 'offline' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (actorProfileId) this.rememberTimedOut(requestId, { lockId, actorProfileId });
        done({ outcome: 'timeout' });
      }, this.ctx.openTimeoutMs);
      const done = (outcome: OpenOutcome) => {
        clearTimeout(timer);
        this.pendingOpens.delete(requestId);
        resolve(outcome);
        if (this.pendingOpens.size === 0 && this.heldUpdate) {
          this.send(this.heldUpdate);
          this.heldUpdate = undefined;
        }
      };
      this.pendingOpens.set(requestId, done);
      this.send({ type: 'open', requestId, lockId });
    });
  }

  private rememberTimedOut(requestId: string, open: { lockId: string; actorProfileId: string }) {
    this.timedOutOpens.set(requestId, open);
    if (this.timedOutOpens.size > MAX_TIMED_OUT_OPENS) {
      this.timedOutOpens.delete(this.timedOutOpens.keys().next().value as string);
    }
  }

  /** F7: never starts an update while one of the IQ's locks is being opened (an open awaits its answer). */
  sendUpdate(message: Extract<GatewayMessage, { type: 'update' }>) {
    if (this.pendingOpens.size === 0) this.send(message);
    else this.heldUpdate = message;
  }

  /**
   * Pushes the flag when it differs from what the IQ last heard. An IQ subscribed again catches up
   * (K7) to the stored version read with the flag: the changes made while it was unsubscribed were
   * told to no connection, so nothing else would wake its sender before the next liveness flush.
   */
  pushSubscribed({ subscribed, accessVersion }: SubscribedFlag) {
    if (this.subscribed === undefined) {
      this.resyncAfterWelcome = true;
      return;
    }
    if (subscribed === this.subscribed) return;
    this.subscribed = subscribed;
    this.send({ type: 'subscription', subscribed });
    this.access?.setSubscribed(subscribed, accessVersion);
  }

  /** K7: the IQ's access list has reached `version`. */
  accessChanged(version: number) {
    if (this.access) this.access.changed(version);
    else this.accessChangedBeforeStart = Math.max(this.accessChangedBeforeStart ?? 0, version);
  }

  destroy() {
    this.socket.destroy();
  }

  private onData(chunk: Buffer) {
    if (this.closing) return;
    const lines = this.reader.push(chunk);
    if (lines === 'overflow') {
      this.closeWith({ type: 'error', code: 'bad_message' });
      return;
    }
    for (const line of lines) this.lines.push(line);
    if (this.lines.length - this.nextLine > MAX_QUEUED_LINES) this.socket.pause();
    this.handling ??= this.handleLines().finally(() => {
      this.handling = undefined;
    });
  }

  /**
   * Handles the lines read, one at a time and in order: a loop over an array, not a promise chain of
   * one link per line, where an error thrown while thousands of links wait costs V8 a walk of the
   * chain (one write of 32,000 bad lines before any hello blocked the event loop for 26 s). A device
   * that does not read what it is sent is not read either, and other connections get their turn
   * every few lines.
   */
  private async handleLines() {
    let handled = 0;
    while (this.nextLine < this.lines.length && !this.closing) {
      const line = this.lines[this.nextLine++] as string;
      try {
        await this.handle(line);
      } catch (error) {
        // A database hiccup costs this message, not the connection or the process.
        logger.error({ err: errorField(error) }, 'device message handling failed');
      }
      if (this.socket.writableLength > OUTPUT_HIGH_WATER) {
        await Promise.race([once(this.socket, 'drain').catch(() => {}), this.socketClosed]);
      }
      if (++handled % LINES_PER_TURN === 0) await new Promise((turn) => setImmediate(turn));
      if (this.lines.length - this.nextLine <= MAX_QUEUED_LINES) this.socket.resume();
    }
    this.lines = [];
    this.nextLine = 0;
  }

  private async handle(line: string) {
    const parsed = parseDeviceMessage(line);
    this.ctx.metrics?.received(parsed.ok ? parsed.message.type : 'invalid');
    if (!parsed.ok) return this.send({ type: 'error', code: 'bad_message' });
    const message = parsed.message;
    if (!this.iq) {
      if (message.type !== 'hello') return this.send({ type: 'error', code: 'bad_message' });
      // The hello arrived in time; however long checking it takes under load, it is answered.
      clearTimeout(this.helloDeadline);
      // A hello that could not be checked (the database away) leaves no connection without a deadline.
      return this.authenticate(message).catch((error: unknown) => {
        this.socket.destroy();
        throw error;
      });
    }
    this.resetLiveness();
    this.ctx.seen.add(this.iq.id);
    await this.onMessage(this.iq, message);
  }

  private async authenticate(hello: Extract<DeviceMessage, { type: 'hello' }>) {
    const { db, registry, instanceId, heartbeatSeconds, guard } = this.ctx;
    // Refused before any lookup: a throttled address, or serial from it, costs the database nothing.
    if (guard.refusedBeforeLookup(this.address, hello.serial)) {
      return this.closeWith({ type: 'error', code: 'throttled' });
    }
    // A throttled serial is checked all the same: refusing its right secret too would let anyone who
    // read a serial off a device keep that IQ offline (and its revocations off its locks, K7) with a
    // few wrong hellos a minute. Guessing gains nothing: its wrong hellos are answered throttled.
    const serialThrottled = guard.serialThrottled(hello.serial);
    const row = await findIqBySerial(db, hello.serial);
    const ok = deviceSecretMatches(hello.secret, row?.secretHash ?? DUMMY_HASH) && row !== undefined;
    if (!ok || !row) {
      guard.failed(this.address, hello.serial);
      return this.closeWith({ type: 'error', code: serialThrottled ? 'throttled' : 'auth_failed' });
    }

    this.iq = { id: row.id, siteId: row.siteId, registeredAtMs: row.registeredAt.getTime() };
    // The IQ connected again: the new connection owns its row, the old one closes without touching it.
    registry.get(row.id)?.destroy();
    registry.set(row.id, this);
    // Read with the row's lock, after registering: a subscription or access change committed after
    // this reaches this connection through the bus; one committed before is in what this returns.
    const state = await this.ctx.write(row.id, () =>
      markIqOnline(db, row.id, instanceId, hello.firmware, hello.accessVersion),
    );
    // Closed meanwhile: onClose, which waits for this hello, lets the IQ go; nothing more is started.
    if (this.closing) return;
    this.resetLiveness();
    this.send({ type: 'welcome', subscribed: state.subscribed, heartbeatSeconds });
    this.subscribed = state.subscribed;
    this.access = new AccessSender({
      db,
      batches: this.ctx.accessBatches,
      iqId: row.id,
      send: (message) => this.send(message),
      ackTimeoutMs: this.ctx.accessAckTimeoutMs,
      onError: (error) => logger.error({ iqId: row.id, err: errorField(error) }, 'access sync failed'),
    });
    this.access.start(hello.accessVersion, state.accessVersion, state.subscribed);
    if (this.accessChangedBeforeStart !== undefined) this.access.changed(this.accessChangedBeforeStart);
    if (this.resyncAfterWelcome) {
      const latest = (await subscribedFlags(db, [row.id])).get(row.id);
      if (latest) this.pushSubscribed(latest);
    }
    const resumed = await updateInFlight(db, row.id, hello.firmware);
    if (resumed) this.sendUpdate({ type: 'update', ...resumed });
  }

  private async onMessage(iq: Authenticated, message: DeviceMessage) {
    switch (message.type) {
      case 'hello':
        return this.send({ type: 'error', code: 'bad_message' });
      case 'heartbeat':
        return;
      case 'open-result': {
        const waiting = this.pendingOpens.get(message.requestId);
        if (waiting) {
          return waiting(
            message.ok ? { outcome: 'opened' } : { outcome: 'refused', reason: message.reason ?? 'refused' },
          );
        }
        return this.onLateOpenResult(iq, message);
      }
      case 'update-status':
        if (!(await this.pacedReport())) return;
        return this.onUpdateStatus(iq, message);
      case 'event':
        if (!(await this.pacedReport())) return;
        return this.onDeviceEvent(iq, message);
      case 'access-ack':
        if (!this.access?.acked(message.version)) this.send({ type: 'error', code: 'bad_message' });
        return;
    }
  }

  /**
   * Waits for a report's turn: a flood (a lying or broken IQ) costs the database no more than the
   * pace allows, and waits in this connection's lines and then its socket, not in memory. False when
   * the connection closed meanwhile: the report is not handled (an event comes again, unacknowledged).
   */
  private async pacedReport(): Promise<boolean> {
    for (;;) {
      const cell = { key: 'reports', policy: this.ctx.deviceReports, tatMs: this.reportsTatMs };
      const decision = decideAttempt([cell], Date.now());
      if (decision.allowed) {
        this.reportsTatMs = decision.tats[0]?.tatMs;
        return true;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise((turn) => {
          timer = setTimeout(turn, decision.retryAfterMs);
        }),
        this.socketClosed,
      ]);
      clearTimeout(timer);
      if (this.closing || this.socket.destroyed) return false;
    }
  }

  /**
   * An answer after the timeout: the caller heard iq_timeout and the trail holds that refusal, but an
   * IQ that says it opened did open the door, so the opening is recorded too, in the member's name and
   * under the request's id (K4, K8). Once per request this connection timed out; any other id (a
   * repeat, a lie) finds nothing and records nothing. A late refusal changes nothing: the door is shut.
   */
  private async onLateOpenResult(
    iq: Authenticated,
    message: Extract<DeviceMessage, { type: 'open-result' }>,
  ) {
    const open = this.timedOutOpens.get(message.requestId);
    if (!open) return;
    this.timedOutOpens.delete(message.requestId);
    if (!message.ok) return;
    await recordEvent(this.ctx.db, {
      siteId: iq.siteId,
      type: 'lock.opened',
      actorProfileId: open.actorProfileId,
      lockId: open.lockId,
      iqId: iq.id,
      data: { requestId: message.requestId, late: true },
    });
  }

  /**
   * F6: the IQ's report on one of its updates, kept in the site's audit trail once per state; a
   * failure ends that attempt (idempotent: only while it is in progress). A report naming no update
   * this IQ was sent is a lie, refused and recorded nowhere (its error text is bounded by the
   * protocol's schema); a repeat is no lie, and writes nothing more.
   */
  private async onUpdateStatus(
    iq: Authenticated,
    message: Extract<DeviceMessage, { type: 'update-status' }>,
  ) {
    const { db } = this.ctx;
    const update = parseUpdateId(message.updateId);
    const report = update
      ? await recordUpdateStatus(db, {
          siteId: iq.siteId,
          iqId: iq.id,
          update,
          data: {
            updateId: message.updateId,
            state: message.state,
            ...(message.error ? { error: message.error } : {}),
          },
        })
      : undefined;
    if (!report?.known) return this.send({ type: 'error', code: 'bad_message' });
    if (report.recorded && message.state === 'failed') {
      await recordUpdateFailure(db, iq.id, message.updateId, message.error ?? 'failed');
    }
  }

  /**
   * K8: an event the IQ reports, stored once per (IQ, eventId) and acknowledged; a repeat is
   * acknowledged and ignored. A lie (another IQ's lock, a credential this IQ could never have held,
   * a time that cannot be) is refused and writes nothing.
   */
  private async onDeviceEvent(iq: Authenticated, message: Extract<DeviceMessage, { type: 'event' }>) {
    const { db } = this.ctx;
    const refuse = () => this.send({ type: 'error', code: 'bad_message' });
    const lock = await findSiteLock(db, iq.siteId, message.lockId);
    if (lock?.iqId !== iq.id) return refuse();
    const at = deviceEventTime(
      message.at === undefined ? undefined : Date.parse(message.at),
      Date.now(),
      iq.registeredAtMs,
    );
    if (!at) return refuse();
    const credential = message.credentialId
      ? await findIqCredential(db, { siteId: iq.siteId, iqId: iq.id }, message.credentialId)
      : undefined;
    if (message.credentialId && !credential) return refuse();
    let result: { stored: boolean; queued: boolean };
    try {
      result = await recordDeviceEventForOwner(db, {
        id: randomUUID(),
        siteId: iq.siteId,
        at,
        type: `lock.${message.kind}`,
        // The member the credential names (K8); a deleted profile's credential names nobody (D7).
        ...(!credential
          ? { actorKind: 'device' }
          : credential.profileId
            ? { actorKind: 'profile', actorProfileId: credential.profileId }
            : { actorKind: 'deleted-profile' }),
        iqId: iq.id,
        lockId: lock.id,
        deviceEventId: String(message.eventId),
        data: {
          source: 'device',
          ...(credential ? { credentialId: credential.id, credentialKind: credential.kind } : {}),
        },
      });
    } catch (error) {
      // Unacknowledged events come again when the IQ reconnects, in their order: drop the connection
      // rather than store a later event before this one.
      this.socket.destroy();
      throw error;
    }
    this.send({ type: 'event-ack', eventId: message.eventId });
    if (result.queued) this.ctx.onNotificationQueued?.();
  }

  private resetLiveness() {
    clearTimeout(this.liveness);
    // Three missed heartbeats: the IQ is offline. Closing lets it reconnect cleanly.
    this.liveness = setTimeout(() => this.socket.destroy(), 3 * this.ctx.heartbeatSeconds * 1000);
  }

  /** Answers once more, then closes; data still arriving is dropped rather than parsed. */
  private closeWith(message: GatewayMessage) {
    this.send(message);
    this.closing = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private async onClose() {
    this.closing = true;
    clearTimeout(this.liveness);
    clearTimeout(this.helloDeadline);
    this.access?.stop();
    // Sent and never answered: the IQ may have opened the door and lost its answer with the
    // connection, so the outcome is unknown, as a silent IQ's is (iq_timeout), not offline.
    for (const done of this.pendingOpens.values()) done({ outcome: 'timeout' });
    // A hello still being handled registers the IQ first; only then can it be let go of.
    await this.handling;
    const iq = this.iq;
    if (!iq || this.ctx.registry.get(iq.id) !== this) return;
    this.ctx.registry.delete(iq.id);
    this.ctx.seen.delete(iq.id);
    await this.ctx.markOffline(iq.id).catch((error: unknown) => {
      logger.error({ iqId: iq.id, err: errorField(error) }, 'could not mark an IQ offline');
    });
  }
}
