import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/client';
import {
  endOfflineQueued,
  endTimedOutAttempts,
  findRolloutWithRelease,
  finishRollout,
  lookAtWave,
  markReportedVersion,
  offlineQueued,
  queuedOfWave,
  resolveTargets,
  rolloutCounts,
  rolloutFailures,
  setRolloutStatus,
  startNextUpdates,
  startUpdates,
} from '../db/queries/rollouts';
import {
  afterInProgressTimeout,
  atOfflineDeadline,
  type Counts,
  DEFAULT_POLICY,
  freeSlots,
  insideWindow,
  msUntilWindowOpens,
  offlineDeadlinePassed,
  type RolloutPolicy,
  shouldAbort,
  waveEnded,
} from '../domain/rollout';
import type { Mailer } from '../emails/mailer';
import type { GatewayClient } from '../gateway/client';

/** How often a wave looks at its IQs: the database is the source of truth, so the loop is a poll. */
const POLL_MS = 500;
/**
 * The same for a sliding wave: a slot freed waits for the next look before it is filled again, so
 * the poll's period is paid once per update instead of once per wave. A look is a few indexed
 * statements (lookAtWave, startNextUpdates), cheap enough to take ten times a second.
 */
const SLIDING_POLL_MS = 100;
/** Failed IQs the report lists; the rest are one API call away. */
const REPORT_FAILURES = 100;

export interface WaveInput {
  rolloutId: string;
  from: number;
  to: number;
  policy: RolloutPolicy;
  /**
   * Workflow time the wave started: the offline deadline of the queued IQs it looks after counts
   * from here (those a middle wave left queued are looked after by the waves after it).
   */
  startedAtMs: number;
  /**
   * Issue 15 (absent in waves started by earlier code, which wait for all their IQs): the wave looks
   * after every position before `to` (retries of earlier waves and updates still in flight), fills
   * the sliding window (`freeSlots`) and hands back as `waveEnded` says.
   */
  sliding?: { last: boolean };
}

export type WaveResult =
  | { outcome: 'done' | 'threshold' | 'aborted'; counts: Counts }
  /** Paused with nothing in flight: the wave waits for a wake-up signal instead of polling. */
  | { outcome: 'paused'; counts: Counts }
  /** A sliding wave whose IQs all started: the next wave fills the slots they free. */
  | { outcome: 'admitted'; counts: Counts }
  /**
   * Every remaining IQ is outside its window: sleep (in workflow time) until one opens, or until the
   * offline deadline when that comes first (`until`, absent in results of earlier code: the window).
   */
  | { outcome: 'wait'; waitMs: number; until?: 'window' | 'offline_deadline'; counts: Counts };

/**
 * The activity's clock follows the server's: the attempt's scheduled time minus when it began here.
 * On a real server the two agree to within milliseconds; on the time-skipping test server this is
 * what lets windows and deadlines be checked in the workflow's (skipped) time.
 */
function serverClock(): () => Date {
  const skew = Context.current().info.currentAttemptScheduledTimestampMs - Date.now();
  // Only ahead: an attempt that waited in the queue was scheduled earlier than it started.
  const ahead = Math.max(skew, 0);
  return () => new Date(Date.now() + ahead);
}

/** Activities of `rollout-<rolloutId>` and its waves. Inputs and results are ids and counts only. */
export function createRolloutActivities(deps: {
  db: Db;
  mailer: Mailer;
  gateway: GatewayClient;
  supportEmail: string;
}) {
  const { db, gateway } = deps;

  const load = async (rolloutId: string) => {
    const found = await findRolloutWithRelease(db, rolloutId);
    if (!found) throw ApplicationFailure.nonRetryable('rollout not found', 'RolloutNotFound');
    return found;
  };

  return {
    /** F3: the target's IQs become rollout_targets (once); the workflow plans waves over `queued`. */
    async resolveRolloutTargets(input: { rolloutId: string }) {
      const { rollout, release } = await load(input.rolloutId);
      await resolveTargets(db, input.rolloutId);
      const counts = await rolloutCounts(db, input.rolloutId);
      return {
        policy: { ...DEFAULT_POLICY, ...(rollout.policy as Partial<RolloutPolicy>) },
        counts,
        release: { id: release.id, model: release.model, version: release.version },
      };
    },

    async setRolloutStatus(input: {
      rolloutId: string;
      status: 'running' | 'paused' | 'aborted';
      reason?: string;
    }) {
      await setRolloutStatus(db, input.rolloutId, input.status, input.reason);
    },

    /** Ends the rollout: unfinished IQs become `canceled`; returns the final counts. */
    async finishRollout(input: {
      rolloutId: string;
      status: 'completed' | 'aborted';
      reason: string | null;
    }) {
      await finishRollout(db, input.rolloutId, input.status, input.reason);
      return rolloutCounts(db, input.rolloutId);
    },

    /** The report to support (the release, counts, the failed IQs by serial and site); one per rollout. */
    async sendRolloutReport(input: { rolloutId: string }) {
      const { rollout, release } = await load(input.rolloutId);
      const [counts, failures] = await Promise.all([
        rolloutCounts(db, input.rolloutId),
        rolloutFailures(db, input.rolloutId, REPORT_FAILURES),
      ]);
      await deps.mailer.send({
        to: deps.supportEmail,
        template: 'rollout-report',
        props: {
          rolloutId: rollout.id,
          release: { id: release.id, model: release.model, version: release.version },
          status: rollout.status,
          abortReason: rollout.abortReason,
          counts,
          failures: failures.map(({ serial, siteId, error, attempts }) => ({
            serial,
            siteId,
            error,
            attempts,
          })),
        },
        idempotencyKey: `rollout-report:${rollout.id}`,
      });
    },

    /**
     * One wave: starts updates (within maxConcurrent, the site's window, the rollout not paused), and
     * watches them end: success when the IQ is back on the version, failure as the IQ reported it
     * (the gateway records it), in-progress timeouts retried, offline IQs timed out at the deadline.
     * The state lives in rollout_targets, so a retried attempt carries on where the last one stopped.
     */
    async runRolloutWave(input: WaveInput): Promise<WaveResult> {
      const ctx = Context.current();
      const now = serverClock();
      const { policy, rolloutId, from, to, sliding } = input;
      // A sliding wave looks after every position before its end; a wave of earlier code, its own.
      const scope = sliding ? 0 : from;
      const window = policy.maintenanceWindow;
      // The canary and the last wave end when all is finished; a sliding wave between, once started.
      const last = !sliding || sliding.last;
      const waitsForAll = from === 0 || last;
      const ended = (queued: { queuedInWave: number; queued: number; roomLeft?: boolean }, running: number) =>
        waveEnded({ canary: from === 0, last, ...queued, running });
      // The release does not change; the rollout's status is read at every look.
      const { release } = await load(rolloutId);
      // Each look is a few statements: the wave polls, so what it reads stays small (issue 15).
      const look = async (at: Date) => {
        const seen = await lookAtWave(db, {
          rolloutId,
          scope,
          from,
          to,
          expiredBefore: new Date(at.getTime() - policy.inProgressTimeoutSeconds * 1000),
        });
        if (!seen) throw ApplicationFailure.nonRetryable('rollout not found', 'RolloutNotFound');
        return seen;
      };
      for (;;) {
        const at = now();
        await markReportedVersion(db, rolloutId, release.version, at);
        let seen = await look(at);
        if (seen.expired.length > 0) {
          for (const outcome of ['retry', 'fail'] as const) {
            const these = seen.expired.filter(
              (t) => afterInProgressTimeout(t.attempts, policy.retries) === outcome,
            );
            if (these.length === 0) continue;
            ctx.log.info('updates in progress past their timeout', {
              rolloutId,
              outcome,
              iqIds: these.map((t) => t.iqId),
            });
            await endTimedOutAttempts(
              db,
              rolloutId,
              these.map((t) => ({ iqId: t.iqId, updateId: t.updateId ?? '' })),
              outcome,
              at,
            );
          }
          seen = await look(at);
        }
        if (offlineDeadlinePassed(at.getTime(), input.startedAtMs, policy.offlineDeadlineSeconds)) {
          const offline = await offlineQueued(db, rolloutId, { scope, to });
          if (offline.length > 0) {
            for (const outcome of ['timed_out', 'fail'] as const) {
              const these = offline.filter((t) => atOfflineDeadline(t.attempts) === outcome);
              if (these.length === 0) continue;
              ctx.log.info('IQs still offline at the deadline', {
                rolloutId,
                outcome,
                iqIds: these.map((t) => t.iqId),
              });
              await endOfflineQueued(
                db,
                rolloutId,
                these.map((t) => t.iqId),
                outcome,
                at,
              );
            }
            seen = await look(at);
          }
        }
        const { status, counts } = seen;
        // What the look saw past its timeout is retried or failed above: it is no longer running.
        const running = seen.inFlight;

        if (status === 'aborted' || status === 'completed') return { outcome: 'aborted', counts };
        if (shouldAbort(counts, policy)) return { outcome: 'threshold', counts };
        // Paused, a wave watches what is in flight to its end (support sees the rollout come to rest).
        const resting = status !== 'paused' || running === 0;
        if (ended(seen, running) && (waitsForAll || resting)) {
          return { outcome: waitsForAll ? 'done' : 'admitted', counts };
        }

        if (status === 'paused') {
          if (running === 0) return { outcome: 'paused', counts };
        } else {
          const slots = sliding
            ? freeSlots(running, counts.succeeded + counts.failed, policy)
            : Math.max(0, policy.maxConcurrent - running);
          let started: Array<{ iqId: string; updateId: string; instance: string | null; position: number }>;
          // Fewer IQs able to start than free slots: none of the wave's positions can use them now.
          let roomLeft: boolean;
          if (window === undefined) {
            started = await startNextUpdates(db, rolloutId, { scope, to, limit: slots }, at);
            roomLeft = started.length < slots;
          } else {
            // A window is judged in each site's time zone: the queued IQs are read with theirs.
            const queued = await queuedOfWave(db, rolloutId, scope, to);
            const open = queued.filter((t) => insideWindow(window, t.timezone, at));
            // A middle wave hands back instead: a later position's site may be inside its window.
            if (open.length === 0 && running === 0 && waitsForAll) {
              const waits = queued.map((t) => msUntilWindowOpens(window, t.timezone, at));
              const deadline = input.startedAtMs + policy.offlineDeadlineSeconds * 1000 - at.getTime();
              const offline = queued.some((t) => !t.online);
              const windowMs = Math.min(...waits);
              const until = offline && deadline < windowMs ? 'offline_deadline' : 'window';
              const waitMs = Math.max(POLL_MS, until === 'window' ? windowMs : deadline);
              return { outcome: 'wait', waitMs, until, counts };
            }
            const startable = open.filter((t) => t.online && !t.updatingElsewhere);
            roomLeft = startable.length < slots;
            started = await startUpdates(
              db,
              rolloutId,
              startable.slice(0, slots).map((t) => t.iqId),
              at,
            );
          }
          if (started.length > 0) {
            ctx.log.info('updates started', { rolloutId, iqIds: started.map((s) => s.iqId) });
          }
          await gateway.sendUpdates(
            started.flatMap((s) =>
              s.instance
                ? [
                    {
                      instance: s.instance,
                      command: {
                        kind: 'update' as const,
                        iqId: s.iqId,
                        updateId: s.updateId,
                        version: release.version,
                        url: release.url,
                        sha256: release.sha256,
                        sizeBytes: release.sizeBytes,
                      },
                    },
                  ]
                : [],
            ),
          );
          // Every IQ of the wave that can start did: hand back now, so the next wave admits into
          // freed slots (and those left queued wait for their turn without holding back the rest).
          const left = {
            queued: seen.queued - started.length,
            queuedInWave: seen.queuedInWave - started.filter((s) => s.position >= from).length,
            roomLeft,
          };
          if (!waitsForAll && ended(left, running + started.length)) return { outcome: 'admitted', counts };
        }
        ctx.heartbeat();
        await ctx.sleep(sliding ? SLIDING_POLL_MS : POLL_MS);
      }
    },
  };
}

export type RolloutActivities = ReturnType<typeof createRolloutActivities>;
