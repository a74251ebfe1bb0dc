/**
 * A rollout's counts by state are kept by triggers on rollout_targets (migration 0016) instead of
 * counted at every look of a wave. On real PostgreSQL:
 * - they equal a count of the targets after generated batches of the statements that move targets,
 *   each one step of the rollout's workflow (a start, the new version recorded, time-outs, retries,
 *   pause, resume) sent at once with what happens meanwhile (IQs on the new version, failures the IQs
 *   report through the gateways, an IQ deleted with its target), and after the end; none of those
 *   fails (no deadlock between the counters' row locks). The workflow's steps are not sent at once
 *   with each other: it takes them one at a time;
 * - a look at a wave of a rollout of 10,000 IQs reads none of the rollout's targets but the wave's
 *   (it counted every target, ten times a second: a rollout's cost grew with the square of its fleet),
 *   support's view of it (how many it set out to update, the furthest position started) a few, and a
 *   pause's entry in its status log (the update commands started so far) only the targets started.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, Tx } from '../../db/client';
import {
  endOfflineQueued,
  endTimedOutAttempts,
  finishRollout,
  insertRelease,
  insertRollout,
  lookAtWave,
  markReportedVersion,
  offlineQueued,
  recordUpdateFailure,
  resolveTargets,
  rolloutCounts,
  rolloutPlan,
  rolloutStatusLog,
  setRolloutStatus,
  startNextUpdates,
} from '../../db/queries/rollouts';
import { atOfflineDeadline, DEFAULT_POLICY } from '../../domain/rollout';
import { createTestDatabase } from '../support/database';
import { readsDuring } from '../support/table-reads';

let database: Database;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

/** A site of `size` IQs of a model of its own (some offline, some already on the version), and a rollout to it. */
async function rolloutOf(size: number) {
  const { db } = database;
  const model = `M-${randomUUID().slice(0, 8)}`;
  const siteId = randomUUID();
  await db.execute(sql`insert into sites (id, name) values (${siteId}::uuid, 'Fleet')`);
  await db.execute(sql`
    insert into iqs (site_id, serial, model, secret_hash, firmware, online)
    select ${siteId}::uuid, ${model} || '-' || g, ${model}, 'x',
      case when g % 17 = 0 then '2.0.0' else '1.0.0' end, g % 5 <> 0
    from generate_series(1, ${size}::int) g`);
  const release = await insertRelease(db, {
    model,
    version: '2.0.0',
    url: 'https://example.test/fw',
    sha256: '0'.repeat(64),
    sizeBytes: 1,
  });
  const rollout = await insertRollout(db, {
    releaseId: release!.id,
    target: { model },
    policy: DEFAULT_POLICY,
  });
  await resolveTargets(db, rollout.id);
  return { rolloutId: rollout.id, siteId };
}

/** The targets counted, state by state (what the triggers must agree with). */
async function countedTargets(rolloutId: string) {
  const rows = await database.db.execute<{ state: string; n: number }>(sql`
    select state::text, count(*)::int as n from rollout_targets where rollout_id = ${rolloutId}::uuid group by state`);
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

const KEYS = {
  queued: 'queued',
  inProgress: 'in_progress',
  succeeded: 'succeeded',
  failed: 'failed',
  timedOut: 'timed_out',
  skipped: 'skipped',
  canceled: 'canceled',
} as const;

async function keptCounts(rolloutId: string) {
  const counts = await rolloutCounts(database.db, rolloutId);
  return Object.fromEntries(
    Object.entries(KEYS)
      .map(([key, state]) => [state, counts[key as keyof typeof KEYS]] as const)
      .filter(([, n]) => n > 0),
  );
}

/** Runs `read` in a transaction; with it, the rows and index entries of rollout_targets it read. */
async function readingTargets<T>(read: (tx: Tx) => Promise<T>) {
  const { result, rowsRead } = await readsDuring(database.db, ['rollout_targets'], read);
  return { result, read: rowsRead.rollout_targets! };
}

/** What the rollout's workflow does, one activity at a time. */
type Step =
  | { kind: 'start'; limit: number }
  | { kind: 'markReported' }
  | { kind: 'timeOutQueued' }
  | { kind: 'endTimedOut'; outcome: 'retry' | 'fail'; share: number }
  | { kind: 'pause' }
  | { kind: 'resume' };

/** What happens meanwhile, any number at once: IQs reporting, a person deleting an IQ. */
type Outside = { kind: 'newVersion'; share: number } | { kind: 'fail'; share: number } | { kind: 'deleteIq' };

type Op = Step | Outside;

const share = fc.double({ min: 0.1, max: 1, noNaN: true });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('start' as const), limit: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('markReported' as const) }),
  fc.record({ kind: fc.constant('timeOutQueued' as const) }),
  fc.record({
    kind: fc.constant('endTimedOut' as const),
    outcome: fc.constantFrom('retry' as const, 'fail' as const),
    share,
  }),
  fc.record({ kind: fc.constant('pause' as const) }),
  fc.record({ kind: fc.constant('resume' as const) }),
);
const outside: fc.Arbitrary<Outside> = fc.oneof(
  fc.record({ kind: fc.constant('newVersion' as const), share }),
  fc.record({ kind: fc.constant('fail' as const), share }),
  fc.record({ kind: fc.constant('deleteIq' as const) }),
);
/** One step of the workflow with what happens meanwhile, sent at once in a generated order. */
const batch: fc.Arbitrary<Op[]> = fc
  .tuple(step, fc.array(outside, { maxLength: 5 }))
  .chain(([s, others]) => fc.shuffledSubarray([s, ...others], { minLength: others.length + 1 }));

const SIZE = 120;

/** Runs one generated operation the way its real caller does, against the rollout's current targets. */
async function run(o: Op, rolloutId: string, siteId: string) {
  const { db } = database;
  const now = new Date();
  const inFlight = async () =>
    db.execute<{ iq_id: string; update_id: string; attempts: number }>(sql`
      select iq_id, update_id, attempts from rollout_targets
      where rollout_id = ${rolloutId}::uuid and state = 'in_progress' order by position`);
  const some = <T>(rows: readonly T[], part: number) => rows.slice(0, Math.ceil(rows.length * part));
  switch (o.kind) {
    case 'start':
      return startNextUpdates(db, rolloutId, { scope: 0, to: SIZE, limit: o.limit }, now);
    case 'newVersion': {
      // IQs back after their update, on the release's version (what a hello records).
      const ids = some(await inFlight(), o.share).map((r) => r.iq_id);
      if (ids.length === 0) return;
      return db.execute(
        sql`update iqs set firmware = '2.0.0' where id = any(${`{${ids.join(',')}}`}::uuid[])`,
      );
    }
    case 'markReported':
      return markReportedVersion(db, rolloutId, '2.0.0', now);
    case 'fail':
      // IQs' reports through the gateways: each its own statement, all at once.
      return Promise.all(
        some(await inFlight(), o.share).map((r) =>
          recordUpdateFailure(db, r.iq_id, r.update_id, 'flash failed'),
        ),
      );
    case 'timeOutQueued': {
      const offline = await offlineQueued(db, rolloutId, { scope: 0, to: SIZE });
      for (const outcome of ['timed_out', 'fail'] as const) {
        const these = offline.filter((t) => atOfflineDeadline(t.attempts) === outcome).map((t) => t.iqId);
        await endOfflineQueued(db, rolloutId, these, outcome, now);
      }
      return;
    }
    case 'endTimedOut': {
      const attempts = some(await inFlight(), o.share).map((r) => ({ iqId: r.iq_id, updateId: r.update_id }));
      return endTimedOutAttempts(db, rolloutId, attempts, o.outcome, now);
    }
    case 'pause':
      return setRolloutStatus(db, rolloutId, 'paused');
    case 'resume':
      return setRolloutStatus(db, rolloutId, 'running');
    case 'deleteIq':
      return db.execute(sql`
        delete from iqs where id = (
          select iq_id from rollout_targets where rollout_id = ${rolloutId}::uuid
          order by position desc limit 1) and site_id = ${siteId}::uuid`);
  }
}

describe('rollout counts kept by triggers', () => {
  it('equal the targets counted after generated batches of changes sent at once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(batch, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        async (batches, finishes) => {
          const { rolloutId, siteId } = await rolloutOf(SIZE);
          expect(await keptCounts(rolloutId)).toEqual(await countedTargets(rolloutId));
          for (const batch of batches) {
            const results = await Promise.allSettled(batch.map((o) => run(o, rolloutId, siteId)));
            const failed = results.filter((r) => r.status === 'rejected');
            // PostgreSQL's own error (drizzle wraps it as the cause), e.g. 40P01 for a deadlock.
            const reasons = failed.map((r) => {
              const error = (r as PromiseRejectedResult).reason as Error & { cause?: { code?: string } };
              return `${error.cause?.code ?? ''} ${error.cause instanceof Error ? error.cause.message : error.message}`;
            });
            expect(reasons).toEqual([]);
            expect(await keptCounts(rolloutId)).toEqual(await countedTargets(rolloutId));
          }
          if (finishes) {
            await finishRollout(database.db, rolloutId, 'aborted', 'test');
            expect(await keptCounts(rolloutId)).toEqual(await countedTargets(rolloutId));
          }
        },
      ),
      // A failure is reported at once with its counterexample, unshrunk: in a CI run of eae68c0 the
      // test hit its 2 minutes with nothing but the timeout to show (a failure's shrinking reruns whole
      // batches on 120 IQs; not reproduced in 3,000 runs here), and went on beside the next test,
      // whose pause then read every target.
      { numRuns: 40, endOnFailure: true },
    );
  });

  it('a look at a wave, support’s view and a pause of a rollout of 10,000 IQs read few of its targets', async () => {
    const { rolloutId } = await rolloutOf(10_000);
    await database.db.execute(sql`analyze rollout_targets`);
    await startNextUpdates(database.db, rolloutId, { scope: 0, to: 500, limit: 500 }, new Date());
    const look = await readingTargets((tx) =>
      lookAtWave(tx, {
        rolloutId,
        scope: 0,
        from: 0,
        to: 1000,
        expiredBefore: new Date(Date.now() - 60_000),
      }),
    );
    // The wave's positions are read (1,772 rows and entries); counting the rollout read 12,215.
    expect(look.read).toBeLessThan(5_000);
    expect(look.result?.inFlight).toBeGreaterThan(0);
    const counted = await countedTargets(rolloutId);
    expect(look.result?.counts.inProgress).toBe(counted.in_progress);
    expect(look.result?.counts.queued).toBe(counted.queued);
    expect(look.result?.counts.skipped).toBe(counted.skipped);

    // Support's view: how many it set out to update and the furthest position started.
    const plan = await readingTargets((tx) => rolloutPlan(tx, rolloutId));
    expect(plan.read).toBeLessThan(10);
    const [truth] = await database.db.execute<{ planned: number; furthest: number }>(sql`
      select (count(*) filter (where state <> 'skipped'))::int as planned,
        max(position) filter (where attempts > 0) as furthest
      from rollout_targets where rollout_id = ${rolloutId}::uuid`);
    expect(plan.result).toEqual({ planned: truth!.planned, furthest: truth!.furthest });

    // A pause logs the update commands started so far, from the targets started.
    const pause = await readingTargets((tx) => setRolloutStatus(tx, rolloutId, 'paused'));
    expect(pause.read).toBeLessThan(1_000);
    const [logged] = await rolloutStatusLog(database.db, rolloutId);
    const [started] = await database.db.execute<{ n: number }>(sql`
      select sum(attempts)::int as n from rollout_targets where rollout_id = ${rolloutId}::uuid`);
    expect(logged).toMatchObject({ status: 'paused', updatesStarted: started!.n });
    expect(started!.n).toBeGreaterThan(0);
  });
});
