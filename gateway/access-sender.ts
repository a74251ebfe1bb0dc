import type { Db } from '../db/client';
import {
  accessStepsAfter,
  accessVersionOf,
  fullListNow,
  recordAccessAck,
  type VersionedStep,
} from '../db/queries/access-lists';
import { catchUpPlan, deltasComplete } from '../domain/access-sync';
import type { GatewayMessage } from './protocol';

export interface AccessSenderDeps {
  db: Db;
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
  private latest = 0;
  private subscribed = false;
  private running: Promise<void> = Promise.resolve();
  private ackTimer: NodeJS.Timeout | undefined;
  private ackTimeoutMs: number;
  private writing = false;
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

  /** An unsubscribed IQ is sent nothing; one subscribed again catches up. */
  setSubscribed(subscribed: boolean) {
    this.subscribed = subscribed;
    if (subscribed) this.sync(false);
  }

  /** The bus said the IQ has new versions. */
  changed() {
    this.sync(true);
  }

  /** The IQ acknowledged `version`. False when it acknowledges a version it was never given (a lie). */
  acked(version: number): boolean {
    if (version > this.latest) return false;
    if (this.held === undefined || version > this.held) this.held = version;
    if (this.sent === undefined || this.held >= this.sent) {
      this.sent = this.held;
      clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
      this.ackTimeoutMs = this.deps.ackTimeoutMs;
    }
    // Not awaited: the answer to the IQ does not wait for the database; writes are serialized inside.
    void this.writeAck();
    return true;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.ackTimer);
  }

  /** Settles when the syncs asked for so far are done (tests). */
  idle(): Promise<void> {
    return this.running;
  }

  private sync(reread: boolean) {
    this.running = this.running
      .then(() => this.run(reread))
      .catch((error: unknown) => this.deps.onError(error));
  }

  private async run(reread: boolean) {
    if (this.stopped || !this.subscribed) return;
    const { db, iqId } = this.deps;
    if (reread) this.latest = Math.max(this.latest, (await accessVersionOf(db, iqId)) ?? 0);
    if (this.sent !== undefined && this.sent >= this.latest) return;
    const plan = catchUpPlan(this.sent, this.latest);
    let steps: VersionedStep[] = [];
    if (plan.kind === 'deltas') {
      steps = await accessStepsAfter(db, iqId, plan.after, this.latest);
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
      this.sync(true);
    }, this.ackTimeoutMs);
    this.ackTimer.unref();
  }

  /** One write at a time, each of the highest ack seen: a burst of acks costs one or two statements. */
  private async writeAck() {
    if (this.writing) return;
    this.writing = true;
    try {
      for (let written = -1; this.held !== undefined && this.held !== written; ) {
        written = this.held;
        await recordAccessAck(this.deps.db, this.deps.iqId, written);
      }
    } catch (error) {
      this.deps.onError(error);
    } finally {
      this.writing = false;
    }
  }
}
