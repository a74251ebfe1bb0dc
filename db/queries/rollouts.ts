import { and, asc, desc, eq, inArray, type SQL, sql } from 'drizzle-orm';
import type { Counts, RolloutPolicy, RolloutStatus, TargetState } from '../../domain/rollout';
import { emptyCounts, parseUpdateId } from '../../domain/rollout';
import type { Db, DbOrTx, Tx } from '../client';
import { preparedPer } from '../prepared';
import {
  firmwareReleases,
  iqs,
  rolloutStatusChanges,
  rollouts,
  rolloutTargetCounts,
  rolloutTargets,
  sites,
} from '../schema';
import { uuidArray } from './sql-arrays';

export type FirmwareRelease = typeof firmwareReleases.$inferSelect;
export type Rollout = typeof rollouts.$inferSelect;
export type RolloutTarget = {
  model?: string | undefined;
  siteIds?: string[] | undefined;
  iqIds?: string[] | undefined;
};

/** Undefined when the model already has this version (the caller answers 409). */
export async function insertRelease(
  db: DbOrTx,
  release: Omit<typeof firmwareReleases.$inferInsert, 'id' | 'createdAt'>,
): Promise<FirmwareRelease | undefined> {
  const [row] = await db.insert(firmwareReleases).values(release).onConflictDoNothing().returning();
  return row;
}

/** The release a model already has with this version (the 409 names it). */
export async function findReleaseByVersion(db: DbOrTx, model: string, version: string) {
  const [row] = await db
    .select({ id: firmwareReleases.id })
    .from(firmwareReleases)
    .where(and(eq(firmwareReleases.model, model), eq(firmwareReleases.version, version)));
  return row;
}

/** F5: releases, newest first (bounded). */
export async function listReleases(db: DbOrTx, limit: number) {
  return db
    .select({
      id: firmwareReleases.id,
      model: firmwareReleases.model,
      version: firmwareReleases.version,
      createdAt: firmwareReleases.createdAt,
    })
    .from(firmwareReleases)
    .orderBy(desc(firmwareReleases.createdAt), desc(firmwareReleases.id))
    .limit(limit);
}

export async function findRelease(db: DbOrTx, id: string): Promise<FirmwareRelease | undefined> {
  const [row] = await db.select().from(firmwareReleases).where(eq(firmwareReleases.id, id));
  return row;
}

export async function insertRollout(
  db: DbOrTx,
  rollout: { releaseId: string; target: RolloutTarget; policy: RolloutPolicy },
): Promise<Rollout> {
  const [row] = await db
    .insert(rollouts)
    .values({ ...rollout, policy: rollout.policy as unknown as Record<string, unknown> })
    .returning();
  return row!;
}

/**
 * Takes back a rollout whose workflow could not be started (N3: the API's 503 leaves no rollout
 * behind, so a client's retry makes the one rollout). Kept when its workflow has taken it up after
 * all (a start that reached Temporal but whose answer was lost): its targets are resolved, or its
 * status moved. Decided under the row's lock, which resolveTargets takes before it inserts the
 * targets, so the two never cross; a workflow that starts after the delete finds no rollout and
 * ends before any IQ is touched. True when the rollout is gone.
 */
export async function withdrawUnstartedRollout(db: Db, rolloutId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const row = await lockStatus(tx, rolloutId);
    if (!row) return true;
    if (row.status !== 'running' || row.finishedAt) return false;
    const [resolved] = await tx
      .select({ iqId: rolloutTargets.iqId })
      .from(rolloutTargets)
      .where(eq(rolloutTargets.rolloutId, rolloutId))
      .limit(1);
    if (resolved) return false;
    await tx.delete(rollouts).where(eq(rollouts.id, rolloutId));
    return true;
  });
}

export async function findRollout(db: DbOrTx, id: string): Promise<Rollout | undefined> {
  const [row] = await db.select().from(rollouts).where(eq(rollouts.id, id));
  return row;
}

/** The rollout with its release, as the activities need it. */
export async function findRolloutWithRelease(db: DbOrTx, id: string) {
  const [row] = await db
    .select({ rollout: rollouts, release: firmwareReleases })
    .from(rollouts)
    .innerJoin(firmwareReleases, eq(firmwareReleases.id, rollouts.releaseId))
    .where(eq(rollouts.id, id));
  return row;
}

/**
 * F3: the target's IQs of the release's model become rollout_targets once (a retried activity finds
 * them there). Queued IQs take positions 0..n-1 in a stable spread-out order (by id), so waves are
 * position ranges; IQs already on the version are `skipped` and placed after them.
 */
export async function resolveTargets(db: DbOrTx, rolloutId: string): Promise<void> {
  const found = await findRolloutWithRelease(db, rolloutId);
  if (!found) throw new Error('rollout not found');
  const { rollout, release } = found;
  const target = rollout.target;
  await db.transaction(async (tx) => {
    // Serializes resolution of one rollout: a retried activity never inserts a second set.
    await tx.execute(sql`select 1 from ${rollouts} where ${rollouts.id} = ${rolloutId} for update`);
    const [existing] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(rolloutTargets)
      .where(eq(rolloutTargets.rolloutId, rolloutId));
    if ((existing?.n ?? 0) > 0) return;
    await tx.execute(sql`
      insert into rollout_targets (rollout_id, iq_id, position, state)
      select ${rolloutId}, i.id,
        row_number() over (order by (i.firmware is not distinct from ${release.version}), i.id) - 1,
        case when i.firmware is not distinct from ${release.version} then 'skipped' else 'queued' end::rollout_target_state
      from iqs i
      where i.model = ${release.model}
        ${target.siteIds ? sql`and i.site_id = any(${uuidArray(target.siteIds)})` : sql``}
        ${target.iqIds ? sql`and i.id = any(${uuidArray(target.iqIds)})` : sql``}`);
  });
  // The waves' statements are planned on the table's statistics: without fresh ones a new rollout's
  // thousands of queued rows are planned as one, and a look reads every row once per chosen IQ.
  await db.execute(sql`analyze rollout_targets`);
}

const stateKey: Record<TargetState, keyof Counts> = {
  queued: 'queued',
  in_progress: 'inProgress',
  succeeded: 'succeeded',
  failed: 'failed',
  timed_out: 'timedOut',
  skipped: 'skipped',
  canceled: 'canceled',
};

/** The rollout's targets by state, as its triggers keep them (rollout_target_counts). */
export async function rolloutCounts(db: DbOrTx, rolloutId: string): Promise<Counts> {
  const rows = await db
    .select({ state: rolloutTargetCounts.state, n: rolloutTargetCounts.n })
    .from(rolloutTargetCounts)
    .where(eq(rolloutTargetCounts.rolloutId, rolloutId));
  const counts = emptyCounts();
  for (const row of rows) counts[stateKey[row.state]] = row.n;
  return counts;
}

/** Counts per rollout for a page of rollouts, in one statement. */
export async function countsOfRollouts(db: DbOrTx, rolloutIds: string[]): Promise<Map<string, Counts>> {
  const byRollout = new Map(rolloutIds.map((id) => [id, emptyCounts()]));
  if (rolloutIds.length === 0) return byRollout;
  const rows = await db
    .select({
      rolloutId: rolloutTargetCounts.rolloutId,
      state: rolloutTargetCounts.state,
      n: rolloutTargetCounts.n,
    })
    .from(rolloutTargetCounts)
    .where(inArray(rolloutTargetCounts.rolloutId, rolloutIds));
  for (const row of rows) {
    const counts = byRollout.get(row.rolloutId);
    if (counts) counts[stateKey[row.state]] = row.n;
  }
  return byRollout;
}

/** Where a page of rollouts ended: the last one's created_at, in microseconds since 1970 (exact), and id. */
export interface RolloutsAfter {
  atMicros: string;
  id: string;
}

/**
 * F5: rollouts newest first, optionally of one status; `after` is where the previous page ended
 * (keyset on created_at, id, so a page never repeats or skips a rollout started meanwhile). It
 * carries the ordering values themselves: a rollout withdrawn since still marks its place.
 */
export async function listRollouts(
  db: DbOrTx,
  opts: { status?: RolloutStatus | undefined; after?: RolloutsAfter | undefined; limit: number },
) {
  return db
    .select({
      id: rollouts.id,
      status: rollouts.status,
      createdAt: rollouts.createdAt,
      // A Date keeps milliseconds only: the next page starts from the stored microseconds.
      atMicros: sql<string>`(extract(epoch from ${rollouts.createdAt}) * 1000000)::bigint::text`,
      model: firmwareReleases.model,
      version: firmwareReleases.version,
    })
    .from(rollouts)
    .innerJoin(firmwareReleases, eq(firmwareReleases.id, rollouts.releaseId))
    .where(
      and(
        opts.status ? eq(rollouts.status, opts.status) : undefined,
        opts.after
          ? sql`(${rollouts.createdAt}, ${rollouts.id}) < (timestamptz 'epoch' + ${opts.after.atMicros}::bigint * interval '1 microsecond', ${opts.after.id}::uuid)`
          : undefined,
      ),
    )
    .orderBy(desc(rollouts.createdAt), desc(rollouts.id))
    .limit(opts.limit);
}

/**
 * What the rollout's plan looks like in the database: `planned` is the IQs it set out to update (every
 * target but those already on the version), `furthest` the furthest position an update started at
 * (null before the first), which names the wave it is in.
 */
export async function rolloutPlan(db: DbOrTx, rolloutId: string) {
  // From the kept counts and the index of started positions: support's view reads a few rows
  // whatever the rollout's size.
  const [row] = await db.execute<{ planned: number; furthest: number | null }>(sql`
    select
      (select coalesce(sum(n), 0)::int from rollout_target_counts
        where rollout_id = ${rolloutId} and state <> 'skipped') as planned,
      (select position from rollout_targets
        where rollout_id = ${rolloutId} and attempts > 0 order by position desc limit 1) as furthest`);
  return { planned: row?.planned ?? 0, furthest: row?.furthest ?? null };
}

/** F5: the IQs whose update failed, with the error and where they are, oldest first (bounded). */
export async function rolloutFailures(db: DbOrTx, rolloutId: string, limit: number) {
  return db
    .select({
      iqId: rolloutTargets.iqId,
      serial: iqs.serial,
      siteId: iqs.siteId,
      error: rolloutTargets.error,
      attempts: rolloutTargets.attempts,
    })
    .from(rolloutTargets)
    .innerJoin(iqs, eq(iqs.id, rolloutTargets.iqId))
    .where(and(eq(rolloutTargets.rolloutId, rolloutId), eq(rolloutTargets.state, 'failed')))
    .orderBy(asc(rolloutTargets.finishedAt), asc(rolloutTargets.position))
    .limit(limit);
}

/**
 * Locks the rollout's row against starts of updates (they hold it shared, startUpdates) and returns
 * its status: a change made under this lock falls between two starts, never across one.
 */
async function lockStatus(tx: Tx, rolloutId: string) {
  const [row] = await tx
    .select({ status: rollouts.status, finishedAt: rollouts.finishedAt })
    .from(rollouts)
    .where(eq(rollouts.id, rolloutId))
    .for('update');
  return row;
}

/**
 * Appends to the rollout's status log, with the update commands started so far: summed over the
 * targets ever started, read through their partial index (a pause early in a rollout of 10,000 IQs
 * read all 10,000).
 */
async function logStatusChange(tx: Tx, rolloutId: string, status: RolloutStatus, reason: string | null) {
  await tx.execute(sql`
    insert into rollout_status_changes (rollout_id, status, reason, updates_started, at)
    select ${rolloutId}, ${status}::rollout_status, ${reason}, coalesce(sum(attempts), 0)::int, clock_timestamp()
    from rollout_targets where rollout_id = ${rolloutId} and attempts > 0`);
}

/**
 * Running ↔ paused, or aborted, logged. A finished rollout's status never changes again, and setting
 * the status it has changes nothing (a retried activity logs its change once).
 */
export async function setRolloutStatus(
  db: DbOrTx,
  rolloutId: string,
  status: 'running' | 'paused' | 'aborted',
  abortReason?: string,
) {
  await db.transaction(async (tx) => {
    const row = await lockStatus(tx, rolloutId);
    if (!row || row.status === status || (row.status !== 'running' && row.status !== 'paused')) return;
    await tx
      .update(rollouts)
      .set({ status, ...(abortReason ? { abortReason } : {}) })
      .where(eq(rollouts.id, rolloutId));
    await logStatusChange(tx, rolloutId, status, status === 'aborted' ? (abortReason ?? null) : null);
  });
}

/** The end, once: whatever has not finished is canceled, and the status is final. */
export async function finishRollout(
  db: Db,
  rolloutId: string,
  status: 'completed' | 'aborted',
  abortReason: string | null,
) {
  await db.transaction(async (tx) => {
    const row = await lockStatus(tx, rolloutId);
    if (!row || row.finishedAt || row.status === 'completed') return;
    await tx
      .update(rolloutTargets)
      .set({ state: 'canceled', finishedAt: sql`now()` })
      .where(
        and(
          eq(rolloutTargets.rolloutId, rolloutId),
          inArray(rolloutTargets.state, ['queued', 'in_progress']),
        ),
      );
    await tx
      .update(rollouts)
      .set({ status, finishedAt: sql`now()`, ...(abortReason ? { abortReason } : {}) })
      .where(eq(rollouts.id, rolloutId));
    if (row.status !== status) await logStatusChange(tx, rolloutId, status, abortReason);
  });
}

/** F5: the rollout's status changes, oldest first. */
export async function rolloutStatusLog(db: DbOrTx, rolloutId: string) {
  return db
    .select({
      status: rolloutStatusChanges.status,
      reason: rolloutStatusChanges.reason,
      updatesStarted: rolloutStatusChanges.updatesStarted,
      at: rolloutStatusChanges.at,
    })
    .from(rolloutStatusChanges)
    .where(eq(rolloutStatusChanges.rolloutId, rolloutId))
    .orderBy(asc(rolloutStatusChanges.id));
}

/**
 * Whether another rollout is updating the IQ of the target row `t` names (startChosen leaves it
 * queued meanwhile), read through the index of updates in progress by IQ.
 */
const updatingElsewhere = (t: SQL) => sql`exists (select 1 from rollout_targets o
  where o.iq_id = ${t}.iq_id and o.state = 'in_progress' and o.rollout_id <> ${t}.rollout_id)`;

/** Queued IQs of the positions [from, to), in order, with what deciding whether to start them needs. */
export async function queuedOfWave(db: DbOrTx, rolloutId: string, from: number, to: number) {
  return db
    .select({
      iqId: rolloutTargets.iqId,
      position: rolloutTargets.position,
      online: iqs.online,
      updatingElsewhere: sql<boolean>`${updatingElsewhere(sql`rollout_targets`)}`,
      instance: iqs.gatewayInstance,
      timezone: sites.timezone,
    })
    .from(rolloutTargets)
    .innerJoin(iqs, eq(iqs.id, rolloutTargets.iqId))
    .innerJoin(sites, eq(sites.id, iqs.siteId))
    .where(
      and(
        eq(rolloutTargets.rolloutId, rolloutId),
        eq(rolloutTargets.state, 'queued'),
        sql`${rolloutTargets.position} >= ${from} and ${rolloutTargets.position} < ${to}`,
      ),
    )
    .orderBy(asc(rolloutTargets.position));
}

/**
 * What a wave's look decides on, in one read: the rollout's status, its counts, and for the positions
 * [scope, to) the updates in flight, those past their timeout (started at or before `expiredBefore`)
 * and the IQs still queued (`queuedInWave`: those from `from` on). Undefined for an unknown rollout.
 */
export async function lookAtWave(
  db: DbOrTx,
  at: { rolloutId: string; scope: number; from: number; to: number; expiredBefore: Date },
) {
  const { rolloutId, scope, from, to } = at;
  // Each part is read through an index: the counts are kept by the targets' triggers, and the rest is
  // bounded by the wave's positions.
  const [row] = await db.execute<{
    status: RolloutStatus;
    states: Array<{ state: TargetState; n: number }>;
    in_flight: number;
    queued: number;
    queued_in_wave: number;
    expired: Array<{ iqId: string; attempts: number; updateId: string | null }>;
  }>(sql`
    select r.status,
      coalesce((
        select json_agg(c) from (
          select state, n from rollout_target_counts where rollout_id = r.id) c
      ), '[]') as states,
      (select count(*)::int from rollout_targets
        where rollout_id = r.id and state = 'in_progress' and position >= ${scope} and position < ${to}) as in_flight,
      q.queued, q.queued_in_wave,
      coalesce((
        select json_agg(json_build_object('iqId', t.iq_id, 'attempts', t.attempts, 'updateId', t.update_id))
        from rollout_targets t
        where t.rollout_id = r.id and t.state = 'in_progress' and t.position >= ${scope} and t.position < ${to}
          and t.started_at <= ${at.expiredBefore.toISOString()}::timestamptz), '[]') as expired
    from rollouts r,
      lateral (
        select count(*)::int as queued, (count(*) filter (where position >= ${from}))::int as queued_in_wave
        from rollout_targets
        where rollout_id = r.id and state = 'queued' and position >= ${scope} and position < ${to}) q
    where r.id = ${rolloutId}`);
  if (!row) return undefined;
  const counts = emptyCounts();
  for (const s of row.states) counts[stateKey[s.state]] = s.n;
  return {
    status: row.status,
    counts,
    inFlight: row.in_flight,
    queued: row.queued,
    queuedInWave: row.queued_in_wave,
    expired: row.expired,
  };
}

/**
 * Queued → in progress while the rollout is running, for the IQs `chosen` selects (a query of
 * `iq_id`s, given the running rollout's id as `(select id from running)`): one more attempt and a
 * fresh updateId `<rolloutId>:<attempt>` (the id names the rollout, so a device's report finds its
 * target by primary key). Returns what was started, with its position and the gateway instance
 * holding each IQ (null: it went offline meanwhile, the timeout retries it).
 *
 * An IQ is updated once, whatever rollouts name it (F3, N7): one already on the release's version
 * is not started, and `skipped` if it was never sent the update (one that was is a success, which
 * markReportedVersion records); one another rollout is updating stays queued, to be skipped once
 * that update brings it to the version, or started if it fails. The starts of every rollout take
 * one lock in turn, and the statement reads after it: each sees the starts committed before it.
 */
async function startChosen(db: DbOrTx, rolloutId: string, chosen: SQL, now: Date) {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended('rollout-update-starts', 0))`);
    const rows = await tx.execute<{
      iq_id: string;
      update_id: string;
      instance: string | null;
      position: number;
    }>(sql`
      with running as (
        -- In the same statement, holding the row shared: a pause or abort (which locks it for update)
        -- is recorded before this start or after it, and once recorded nothing new starts.
        select id from rollouts where id = ${rolloutId} and status = 'running' for share),
      release as (
        select f.version from rollouts r join firmware_releases f on f.id = r.release_id
        where r.id = (select id from running)),
      -- By primary key: the chosen ids are read once, whatever the planner makes of the rest.
      picked as (select array(${chosen}) as ids),
      candidates as (
        select t.iq_id, t.attempts, i.firmware is not distinct from (select version from release) as on_version,
          ${updatingElsewhere(sql`t`)} as updating_elsewhere
        from rollout_targets t join iqs i on i.id = t.iq_id
        where t.rollout_id = (select id from running) and t.iq_id = any((select ids from picked)::uuid[]) and t.state = 'queued'),
      skipped as (
        update rollout_targets t set state = 'skipped'
        from candidates c
        where t.rollout_id = (select id from running) and t.iq_id = c.iq_id and c.on_version and c.attempts = 0),
      started as (
        update rollout_targets t set state = 'in_progress', attempts = t.attempts + 1,
          update_id = ${`${rolloutId}:`} || (t.attempts + 1), started_at = ${now.toISOString()}::timestamptz, error = null
        from candidates c
        where t.rollout_id = (select id from running) and t.iq_id = c.iq_id
          and not c.on_version and not c.updating_elsewhere
        returning t.iq_id, t.update_id, t.position)
      select s.iq_id, s.update_id, s.position, i.gateway_instance as instance
      from started s join iqs i on i.id = s.iq_id`);
    return rows.map((r) => ({
      iqId: r.iq_id,
      updateId: r.update_id,
      instance: r.instance,
      position: r.position,
    }));
  });
}

/** startChosen for these IQs. */
export async function startUpdates(db: DbOrTx, rolloutId: string, iqIds: string[], now: Date) {
  if (iqIds.length === 0) return [];
  return startChosen(db, rolloutId, sql`select unnest(${uuidArray(iqIds)})`, now);
}

/**
 * startChosen for the first `limit` online queued IQs of the positions [scope, to), in position
 * order, chosen in the same statement (no maintenance window to judge them by): the queued positions
 * in order, each IQ's online flag looked up as the scan goes, so the scan stops at the limit; an IQ
 * another rollout is updating takes no slot.
 */
export async function startNextUpdates(
  db: DbOrTx,
  rolloutId: string,
  at: { scope: number; to: number; limit: number },
  now: Date,
) {
  if (at.limit <= 0) return [];
  return startChosen(
    db,
    rolloutId,
    sql`select t.iq_id from rollout_targets t
      where t.rollout_id = (select id from running) and t.state = 'queued'
        and t.position >= ${at.scope} and t.position < ${at.to}
        and (select i.online from iqs i where i.id = t.iq_id)
        and not ${updatingElsewhere(sql`t`)}
      order by t.position limit ${at.limit}`,
    now,
  );
}

/** Queued IQs of the positions [scope, to) offline now, with the updates sent them so far. */
export async function offlineQueued(db: DbOrTx, rolloutId: string, at: { scope: number; to: number }) {
  const rows = await db.execute<{ iq_id: string; attempts: number }>(sql`
    select t.iq_id, t.attempts from rollout_targets t
    where t.rollout_id = ${rolloutId} and t.state = 'queued' and t.position >= ${at.scope} and t.position < ${at.to}
      and not exists (select 1 from iqs i where i.id = t.iq_id and i.online)`);
  return rows.map((r) => ({ iqId: r.iq_id, attempts: r.attempts }));
}

/**
 * Queued targets past the offline deadline: `timed_out`, or failed with error `timeout`
 * (atOfflineDeadline). Only those still queued and offline: one that came online meanwhile is started.
 */
export async function endOfflineQueued(
  db: DbOrTx,
  rolloutId: string,
  iqIds: string[],
  outcome: 'timed_out' | 'fail',
  now: Date,
) {
  if (iqIds.length === 0) return;
  await db.execute(sql`
    update rollout_targets t set
      state = ${outcome === 'fail' ? 'failed' : 'timed_out'}::rollout_target_state,
      error = ${outcome === 'fail' ? 'timeout' : null}, finished_at = ${now.toISOString()}::timestamptz
    where t.rollout_id = ${rolloutId} and t.iq_id = any(${uuidArray(iqIds)}) and t.state = 'queued'
      and not exists (select 1 from iqs i where i.id = t.iq_id and i.online)`);
}

/**
 * F6: success is the IQ back on the release's version after one of our sends: a send starts only for
 * an IQ not on the version (startChosen), and only a hello sets the version, so the one seen here was
 * reported after the send. One conditional
 * UPDATE keyed by (rollout, IQ, version): a finished target is never touched, so a late or repeated
 * report changes nothing and nothing is sent again.
 */
export async function markReportedVersion(db: DbOrTx, rolloutId: string, version: string, now: Date) {
  const rows = await db.execute(sql`
    update rollout_targets t set state = 'succeeded', finished_at = ${now.toISOString()}::timestamptz, error = null
    where t.rollout_id = ${rolloutId} and (t.state = 'in_progress' or (t.state = 'queued' and t.attempts > 0))
      and (select i.firmware from iqs i where i.id = t.iq_id) = ${version}
    returning t.iq_id`);
  return rows.length;
}

/**
 * A failure the IQ reported for one update (gateway side). Only the attempt it names, and only while
 * in progress: a late report about an earlier attempt or a finished target changes nothing. Nor does
 * one from an IQ that already said hello on the release's version (F6: that is its success, which
 * the wave's next look records): an IQ sends failures it buffered before its reboot after that hello,
 * and the gateway handles an IQ's lines in order, so the hello's write is committed by then.
 */
export async function recordUpdateFailure(db: DbOrTx, iqId: string, updateId: string, error: string) {
  const rolloutId = parseUpdateId(updateId)?.rolloutId;
  if (!rolloutId) return;
  await db.execute(sql`
    update rollout_targets t set state = 'failed', error = ${error}, finished_at = now()
    where t.rollout_id = ${rolloutId} and t.iq_id = ${iqId} and t.update_id = ${updateId} and t.state = 'in_progress'
      and not exists (
        select 1 from iqs i, rollouts r, firmware_releases f
        where i.id = t.iq_id and r.id = t.rollout_id and f.id = r.release_id and i.firmware = f.version)`);
}

/** In-progress targets whose attempt timed out: back to queued (a retry) or failed. */
export async function endTimedOutAttempts(
  db: DbOrTx,
  rolloutId: string,
  attempts: Array<{ iqId: string; updateId: string }>,
  outcome: 'retry' | 'fail',
  now: Date,
) {
  if (attempts.length === 0) return;
  await db.execute(sql`
    update rollout_targets t set
      state = ${outcome === 'retry' ? 'queued' : 'failed'}::rollout_target_state,
      error = ${outcome === 'retry' ? null : 'timeout'},
      finished_at = ${outcome === 'retry' ? null : now.toISOString()}::timestamptz
    from unnest(${uuidArray(attempts.map((a) => a.iqId))}, ${`{${attempts.map((a) => `"${a.updateId}"`).join(',')}}`}::text[]) as a(iq_id, update_id)
    where t.rollout_id = ${rolloutId} and t.iq_id = a.iq_id and t.update_id = a.update_id
      and t.state = 'in_progress'`);
}

/**
 * The update an IQ should be running: its attempt in progress in a running rollout, unless it
 * already reports the release's version. Sent again when the IQ says hello, so an update whose
 * connection dropped (a gateway instance died, or the network) resumes at once under the same
 * updateId instead of waiting out the in-progress timeout and costing a retry.
 */
export async function updateInFlight(db: DbOrTx, iqId: string, firmware: string) {
  const [row] = await inFlightOfIq(db).execute({ iqId, firmware });
  return row?.updateId ? { ...row, updateId: row.updateId } : undefined;
}

/** Read at every hello (the gateway): built once. */
const inFlightOfIq = preparedPer((db) =>
  db
    .select({
      updateId: rolloutTargets.updateId,
      version: firmwareReleases.version,
      url: firmwareReleases.url,
      sha256: firmwareReleases.sha256,
      sizeBytes: firmwareReleases.sizeBytes,
    })
    .from(rolloutTargets)
    .innerJoin(rollouts, eq(rollouts.id, rolloutTargets.rolloutId))
    .innerJoin(firmwareReleases, eq(firmwareReleases.id, rollouts.releaseId))
    .where(
      and(
        eq(rolloutTargets.iqId, sql.placeholder('iqId')),
        eq(rolloutTargets.state, 'in_progress'),
        eq(rollouts.status, 'running'),
        sql`${firmwareReleases.version} <> ${sql.placeholder('firmware')}`,
      ),
    )
    .orderBy(sql`${rolloutTargets.startedAt} desc`)
    .limit(1)
    .prepare('update_in_flight_of_iq'),
);
