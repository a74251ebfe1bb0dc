/**
 * Where a rollout's time goes (bench/rollout): the window's fill over time, rebuilt from each target's
 * start and end as the database recorded them, and per second the CPU of each process and the
 * database's transactions, sampled while the rollout runs.
 */
import { readFileSync } from 'node:fs';
import { sql as raw } from 'drizzle-orm';
import type { Db } from '../db/client';
import { type RolloutPolicy, windowLimit } from '../domain/rollout';
import { cpuSeconds } from './cpu';

export interface Sample {
  /** Seconds since the rollout started. */
  at: number;
  cpu: Record<string, number>;
  transactions: number;
}

/** CPU seconds so far of one process (user + system), or 0 once it is gone. */
function cpuOfPid(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Samples CPU per process and the database's committed transactions once a second. */
export function startSampler(opts: {
  db: Db;
  t0: number;
  /** The Temporal server's and PostgreSQL's processes (BenchInfrastructure). */
  temporalProcesses: RegExp;
  postgresProcesses: RegExp;
  pids: Record<string, number | undefined>;
}) {
  const samples: Sample[] = [];
  const take = async () => {
    const [row] = await opts.db.execute<{ n: string }>(
      raw`select sum(xact_commit + xact_rollback)::text as n from pg_stat_database`,
    );
    const own = process.cpuUsage();
    samples.push({
      at: (performance.now() - opts.t0) / 1000,
      transactions: Number(row?.n ?? 0),
      cpu: {
        ...(cpuSeconds({
          temporal: opts.temporalProcesses,
          postgres: opts.postgresProcesses,
        }) ?? {}),
        ...Object.fromEntries(Object.entries(opts.pids).map(([name, pid]) => [name, cpuOfPid(pid)])),
        worker: (own.user + own.system) / 1e6,
      },
    });
  };
  let pending = take();
  const timer = setInterval(() => {
    pending = pending.then(take).catch(() => {});
  }, 1_000);
  return {
    async stop() {
      clearInterval(timer);
      await pending;
      await take();
      return samples;
    },
  };
}

const quantile = (sorted: number[], q: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/**
 * The window's fill rebuilt from rollout_targets: per second the IQs admitted (started), in flight
 * and done, against the window the policy allows for what had finished; the slot-seconds left idle;
 * how long after a slot freed the next update started once the window was full; and how long an update
 * took as the rollout saw it (start to recorded end) against the device's own duration.
 */
export async function windowProfile(
  db: Db,
  rolloutId: string,
  startedAt: Date,
  wallMs: number,
  policy: RolloutPolicy,
  updateMs: number,
) {
  const rows = await db.execute<{ s: number; f: number | null }>(raw`
    select extract(epoch from started_at - ${startedAt.toISOString()}::timestamptz) * 1000 as s,
      extract(epoch from finished_at - ${startedAt.toISOString()}::timestamptz) * 1000 as f
    from rollout_targets where rollout_id = ${rolloutId} and started_at is not null`);
  const starts = rows.map((r) => Number(r.s)).sort((a, b) => a - b);
  const ends = rows
    .filter((r) => r.f !== null)
    .map((r) => Number(r.f))
    .sort((a, b) => a - b);
  const durations = rows
    .filter((r) => r.f !== null)
    .map((r) => Number(r.f) - Number(r.s))
    .sort((a, b) => a - b);

  const countUpTo = (sorted: number[], t: number) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  // Idle slots, integrated every 10 ms: the window allowed more than were in flight.
  let idleSlotMs = 0;
  let fullAt: number | undefined;
  for (let t = 0; t < wallMs; t += 10) {
    const done = countUpTo(ends, t);
    const inFlight = countUpTo(starts, t) - done;
    const limit = Math.min(windowLimit(done, policy), starts.length - done);
    if (fullAt === undefined && windowLimit(done, policy) >= policy.maxConcurrent) fullAt = t;
    idleSlotMs += Math.max(0, limit - inFlight) * 10;
  }
  // Once the window is at its maximum, the (M+k)-th start fills the slot the k-th end freed.
  const refills: number[] = [];
  const m = policy.maxConcurrent;
  for (let k = 0; m + k < starts.length && k < ends.length; k++) {
    if (fullAt !== undefined && ends[k]! >= fullAt) refills.push(starts[m + k]! - ends[k]!);
  }
  refills.sort((a, b) => a - b);

  const perSecond: Array<{
    second: number;
    admitted: number;
    inFlight: number;
    done: number;
    window: number;
  }> = [];
  for (let second = 1; second <= Math.ceil(wallMs / 1000); second++) {
    const t = second * 1000;
    const done = countUpTo(ends, t);
    const admitted = countUpTo(starts, t);
    perSecond.push({
      second,
      admitted,
      inFlight: admitted - done,
      done,
      window: windowLimit(done, policy),
    });
  }
  // An update's stages as the database saw them: the start recorded, the IQ's `downloading` and
  // `installing` statuses stored by the gateway, the success recorded.
  const [stages] = await db.execute<Record<string, number>>(raw`
    with e as (
      select iq_id, data->>'updateId' as update_id,
        min(at) filter (where data->>'state' = 'downloading') as downloading,
        min(at) filter (where data->>'state' = 'installing') as installing
      from events where type = 'iq.update_status' group by 1, 2),
    s as (
      select t.started_at, t.finished_at, e.downloading, e.installing
      from rollout_targets t join e on e.iq_id = t.iq_id and e.update_id = t.update_id
      where t.rollout_id = ${rolloutId} and t.state = 'succeeded')
    select
      percentile_cont(0.5) within group (order by extract(epoch from downloading - started_at) * 1000) as "startToDownloadingP50",
      percentile_cont(0.9) within group (order by extract(epoch from downloading - started_at) * 1000) as "startToDownloadingP90",
      percentile_cont(0.5) within group (order by extract(epoch from installing - downloading) * 1000) as "downloadingToInstallingP50",
      percentile_cont(0.5) within group (order by extract(epoch from finished_at - installing) * 1000) as "installingToSucceededP50",
      percentile_cont(0.9) within group (order by extract(epoch from finished_at - installing) * 1000) as "installingToSucceededP90"
    from s`);
  const lastStart = starts.at(-1) ?? 0;
  return {
    perSecond,
    summary: {
      windowFullAtSeconds: fullAt === undefined ? null : +(fullAt / 1000).toFixed(1),
      lastStartSeconds: +(lastStart / 1000).toFixed(1),
      tailSeconds: +((wallMs - lastStart) / 1000).toFixed(1),
      idleSlotSeconds: +(idleSlotMs / 1000).toFixed(0),
      /** Idle slot-seconds over the maximum window: the seconds of a full window they are worth. */
      idleFullWindowSeconds: +(idleSlotMs / 1000 / m).toFixed(1),
      updateSeenMs: {
        device: updateMs,
        p50: Math.round(quantile(durations, 0.5)),
        p90: Math.round(quantile(durations, 0.9)),
        p99: Math.round(quantile(durations, 0.99)),
      },
      stagesMs: Object.fromEntries(Object.entries(stages ?? {}).map(([k, v]) => [k, Math.round(Number(v))])),
      refillMs: {
        n: refills.length,
        p50: Math.round(quantile(refills, 0.5)),
        p90: Math.round(quantile(refills, 0.9)),
        p99: Math.round(quantile(refills, 0.99)),
      },
    },
  };
}

/** Per-second rates from cumulative samples: CPU share of one core per process, transactions/s. */
export function rates(samples: Sample[]) {
  const out: Array<{ second: number; tps: number; cpu: Record<string, number> }> = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const dt = b.at - a.at;
    if (dt <= 0) continue;
    out.push({
      second: Math.round(b.at),
      tps: Math.round((b.transactions - a.transactions) / dt),
      cpu: Object.fromEntries(
        Object.keys(b.cpu).map((k) => [k, +(((b.cpu[k] ?? 0) - (a.cpu[k] ?? 0)) / dt).toFixed(2)]),
      ),
    });
  }
  const first = samples[0];
  const last = samples.at(-1);
  const total =
    first && last
      ? Object.fromEntries(
          Object.keys(last.cpu).map((k) => [k, +((last.cpu[k] ?? 0) - (first.cpu[k] ?? 0)).toFixed(1)]),
        )
      : {};
  const span = first && last ? last.at - first.at : 0;
  return {
    perSecond: out,
    cpuSecondsTotal: total,
    transactionsPerSecond:
      span > 0 ? Math.round(((last?.transactions ?? 0) - (first?.transactions ?? 0)) / span) : 0,
  };
}
