import type { Db } from '../db/client';
import { fullListNow, type VersionedStep } from '../db/queries/access-lists';
import { catchUpPlan, deltasComplete } from '../domain/access-sync';
import type { AccessBatches } from './access-batches';
import type { GatewayMessage } from './protocol';

export interface AccessSenderDeps {
  db: Db;
  batches: AccessBatches;
  iqId: string;
  send(message: GatewayMessage): void;
  /** How long sent versions may stay unacknowledged before they are sent again (doubling, capped). */
  ackTimeoutMs: number;
  onError(error: unknown): void;
}

const MAX_ACK_TIMEOUT_MS = 5 * 60_000;

/**
 * K7 on one IQ connection: sends the versions the IQ misses, in order, once each per connection, and
 * records its acks. Runs one sync at a time. Knows three versions: what the IQ holds for sure (its
 * hello, then its acks), what it will hold once it applied what was sent, and the latest one stored.
 * A version sent and never acknowledged is sent again (from what the IQ holds) after a timeout; the IQ
 * ignores a version it already holds, so a repeat changes nothing.
 */
export class AccessSender {
  private held: number | undefined;
  private sent: number | undefined;
  /** The newest version sent on this connection, however often sent again since. */
  private highestSent: number | undefined;
  private latest = 0;
  private subscribed = false;
  private running: Promise<void> = Promise.resolve();
  private ackTimer: NodeJS.Timeout | undefined;
  private ackTimeoutMs: number;
  private stopped = false;

  constructor(private readonly deps: AccessSenderDeps) {
    this.ackTimeoutMs = deps.ackTimeoutMs;
  }

  /** After the welcome: what the IQ said it holds, the stored version, and whether it takes changes (K5). */
  start(reported: number | undefined, latest: number, subscribed: boolean) {
    this.held = reported !== undefined && reported <= latest ? reported : undefined;
    this.sent = this.held;
    this.latest = latest;
    this.setSubscribed(subscribed);
  }

  /** An unsubscribed IQ is sent nothing; one subscribed again catches up to `latest`, the stored version. */
  setSubscribed(subscribed: boolean, latest = this.latest) {
    this.subscribed = subscribed;
    if (latest > this.latest) this.latest = latest;
    if (subscribed) this.sync();
  }

  /**
   * The IQ's list has reached `version` (the bus says so after a change commits, the liveness flush
   * when the IQ's row is behind). A version the IQ already acknowledged means its ack was not written
   * (a failed write): it is written again.
   */
  changed(version: number) {
    if (this.held !== undefined && version <= this.held) {
      this.deps.batches.ack(this.deps.iqId, this.held);
      return;
    }
    if (version > this.latest) this.latest = version;
    this.sync();
  }

  /** The IQ acknowledged `version`. False when it acknowledges a version it was never given (a lie). */
  acked(version: number): boolean {
    if (version > this.latest || version > Math.max(this.held ?? 0, this.highestSent ?? 0)) return false;
    if (this.held === undefined || version > this.held) this.held = version;
    if (this.sent === undefined || this.held >= this.sent) {
      this.sent = this.held;
      clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
      this.ackTimeoutMs = this.deps.ackTimeoutMs;
    }
    this.deps.batches.ack(this.deps.iqId, this.held);
    return true;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.ackTimer);
  }

  private sync() {
    this.running = this.running.then(() => this.run()).catch((error: unknown) => this.deps.onError(error));
  }

  private async run() {
    if (this.stopped || !this.subscribed) return;
    const { db, iqId } = this.deps;
    if (this.sent !== undefined && this.sent >= this.latest) return;
    const plan = catchUpPlan(this.sent, this.latest);
    let steps: VersionedStep[] = [];
    if (plan.kind === 'deltas') {
      steps = await this.deps.batches.stepsAfter(iqId, plan.after, this.latest);
      const complete = deltasComplete(
        plan.after,
        this.latest,
        steps.map((s) => s.version),
      );
      if (!complete) steps = [];
    }
    if (plan.kind === 'full' || (plan.kind === 'deltas' && steps.length === 0)) {
      steps = await fullListNow(db, iqId);
    }
    if (this.stopped || !this.subscribed) return;
    for (const step of steps) {
      this.deps.send({
        type: 'access',
        version: step.version,
        full: step.full,
        grants: step.grants,
        revokes: step.revokes,
      });
      this.sent = step.version;
      this.highestSent = Math.max(this.highestSent ?? 0, step.version);
      if (step.version > this.latest) this.latest = step.version;
    }
    if (steps.length > 0) this.armAckTimer();
  }

  private armAckTimer() {
    clearTimeout(this.ackTimer);
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      // Unacknowledged: send again from what the IQ is known to hold.
      this.sent = this.held;
      this.ackTimeoutMs = Math.min(this.ackTimeoutMs * 2, MAX_ACK_TIMEOUT_MS);
      this.sync();
    }, this.ackTimeoutMs);
    this.ackTimer.unref();
  }
}
