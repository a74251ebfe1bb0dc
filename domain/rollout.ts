// Pure rollout decisions (F4, F7): no I/O, so the workflow, the activities and the tests share them.

export interface MaintenanceWindow {
  /** Site-local "HH:MM"; a window whose end is not after its start crosses midnight. */
  start: string;
  end: string;
}

export interface RolloutPolicy {
  canarySize: number;
  growthFactor: number;
  maxConcurrent: number;
  failureThresholdPercent: number;
  minFinishedBeforeAbort: number;
  inProgressTimeoutSeconds: number;
  retries: number;
  offlineDeadlineSeconds: number;
  maintenanceWindow?: MaintenanceWindow | undefined;
}

export const DEFAULT_POLICY: RolloutPolicy = {
  canarySize: 5,
  growthFactor: 2,
  maxConcurrent: 50,
  failureThresholdPercent: 10,
  // The canary's size: above it, the canary could never abort a bad release (F4).
  minFinishedBeforeAbort: 5,
  inProgressTimeoutSeconds: 900,
  retries: 2,
  offlineDeadlineSeconds: 86_400,
};

/**
 * The id of an update command: `<rolloutId>:<attempt>`, so a device's report finds its target by
 * primary key. Undefined for anything else, such as a made-up id (attempts count from 1, int4).
 */
export function parseUpdateId(updateId: string): { rolloutId: string; attempt: number } | undefined {
  const m = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):([1-9]\d{0,8})$/.exec(updateId);
  return m ? { rolloutId: m[1]!, attempt: Number(m[2]) } : undefined;
}

/** A rollout's status (F5). `completed` and `aborted` are final. */
export type RolloutStatus = 'running' | 'paused' | 'completed' | 'aborted';

/** What support can do to a rollout (F5): the signals of `rollout-<rolloutId>`. */
export type RolloutControl = 'pause' | 'resume' | 'abort';
export const ROLLOUT_CONTROLS: readonly RolloutControl[] = ['pause', 'resume', 'abort'];

/**
 * F5: the status a control leads to. Pause acts on a running rollout, resume on a paused one, abort on
 * either; anything else (a pause while paused, any control once finished) leaves the status as it is.
 */
export function afterControl(status: RolloutStatus, control: RolloutControl): RolloutStatus {
  if (control === 'pause') return status === 'running' ? 'paused' : status;
  if (control === 'resume') return status === 'paused' ? 'running' : status;
  return status === 'running' || status === 'paused' ? 'aborted' : status;
}

export type TargetState =
  | 'queued'
  | 'in_progress'
  | 'succeeded'
  | 'failed'
  | 'timed_out'
  | 'skipped'
  | 'canceled';

export interface Counts {
  queued: number;
  inProgress: number;
  succeeded: number;
  failed: number;
  timedOut: number;
  skipped: number;
  canceled: number;
}

export const emptyCounts = (): Counts => ({
  queued: 0,
  inProgress: 0,
  succeeded: 0,
  failed: 0,
  timedOut: 0,
  skipped: 0,
  canceled: 0,
});

/** Size of wave `index` (0 = canary): the canary, then × growthFactor each wave, never above maxConcurrent. */
export function waveSize(
  index: number,
  policy: Pick<RolloutPolicy, 'canarySize' | 'growthFactor' | 'maxConcurrent'>,
) {
  const grown = policy.canarySize * policy.growthFactor ** index;
  return Math.max(1, Math.min(policy.maxConcurrent, Math.floor(grown)));
}

/**
 * The wave (0 = canary) whose slice of the queued positions holds `position`: the wave of the
 * rollout's furthest started IQ is the one it is in, or ended in (the suffix of its workflow id).
 */
export function waveOfPosition(position: number, policy: Parameters<typeof waveSize>[1]): number {
  let wave = 0;
  for (let end = waveSize(0, policy); position >= end; end += waveSize(wave, policy)) wave++;
  return wave;
}

/** Every wave's size for `total` queued IQs; the last wave takes what is left. */
export function waveSizes(total: number, policy: Parameters<typeof waveSize>[1]): number[] {
  const sizes: number[] = [];
  for (let left = total, i = 0; left > 0; i++) {
    const size = Math.min(left, waveSize(i, policy));
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

/**
 * The sliding window (issue 15): how many IQs may be updating at once, given how many have finished
 * (succeeded or failed: what is known of the release). It starts at the canary and grows by the
 * growth factor each time as many IQs have finished as every step before it admitted, like the waves
 * it replaces: with the defaults 5 until 5 finished, 10 until 15, 20 until 35…, never above
 * maxConcurrent. A timed-out IQ never tried the firmware: it tells nothing and grows nothing.
 */
export function windowLimit(finished: number, policy: Parameters<typeof waveSize>[1]): number {
  return waveSize(waveOfPosition(finished, policy), policy);
}

/** How many more IQs may start now: what the window holds beyond those updating. */
export const freeSlots = (running: number, finished: number, policy: Parameters<typeof waveSize>[1]) =>
  Math.max(0, windowLimit(finished, policy) - running);

/**
 * When a wave hands back to the rollout (issue 15). A wave is a slice of the queued positions, sized
 * as before (the canary, then × growthFactor up to maxConcurrent); the window admits its IQs as
 * slots free. The canary ends only once every IQ in it finished (F4: alone, and checked before
 * anything else starts); a later wave ends once none of its IQs waits to start, or once its last
 * start left slots free (`roomLeft`: every IQ that could start has, and those still queued, offline
 * or outside their maintenance window, are looked after by the waves after it, so they hold back no
 * later position); the next wave admits into the slots its updates free while they finish; the last
 * wave ends once every IQ of the rollout finished.
 */
export function waveEnded(wave: {
  canary: boolean;
  last: boolean;
  /** IQs of this wave still queued (offline, outside their window, or not admitted yet). */
  queuedInWave: number;
  /** Every queued IQ this wave looks after (its own and earlier waves' retries). */
  queued: number;
  running: number;
  /** The wave's last start found fewer IQs able to start than the window had free slots. */
  roomLeft?: boolean;
}): boolean {
  if (wave.canary || wave.last) return wave.queued === 0 && wave.running === 0;
  return wave.queuedInWave === 0 || wave.roomLeft === true;
}

/**
 * The policy's own minimum: how long the rollout takes when every update takes `updateMs` and
 * nothing else costs time, under the window's rules (the canary alone, then the window growing with
 * finished IQs). Benchmarks compare the real time with it.
 */
export function idealDurationMs(
  planned: number,
  policy: Parameters<typeof waveSize>[1],
  updateMs: number,
): number {
  let started = 0;
  let finished = 0;
  let at = 0;
  const ends: number[] = [];
  while (finished < planned) {
    const canaryOpen = finished < Math.min(planned, waveSize(0, policy));
    const cap = canaryOpen ? Math.min(planned, waveSize(0, policy)) : planned;
    const admit = Math.min(freeSlots(started - finished, finished, policy), cap - started);
    for (let i = 0; i < admit; i++) ends.push(at + updateMs);
    started += admit;
    // Every update started together ends together: jump to the next end and count them.
    at = ends[finished]!;
    while (finished < started && ends[finished]! <= at) finished++;
  }
  return at;
}

/**
 * Abort when the failure rate over finished updates exceeds the threshold, once enough finished.
 * Only `failed` counts as finished-with-failure: a timed-out IQ was offline and never tried the
 * firmware (atOfflineDeadline), so it says nothing about the release.
 */
export function shouldAbort(
  counts: Pick<Counts, 'succeeded' | 'failed'>,
  policy: Pick<RolloutPolicy, 'failureThresholdPercent' | 'minFinishedBeforeAbort'>,
): boolean {
  const finished = counts.succeeded + counts.failed;
  if (finished === 0 || finished < policy.minFinishedBeforeAbort) return false;
  return (counts.failed * 100) / finished > policy.failureThresholdPercent;
}

/**
 * An update that stayed in progress past its timeout is sent again while attempts are left
 * (`attempts` counts sends so far), then it fails. A failure the IQ reports is final: the same file
 * fails the same way, and the failure rate is what the abort decision needs to see.
 */
export const afterInProgressTimeout = (attempts: number, retries: number): 'retry' | 'fail' =>
  attempts <= retries ? 'retry' : 'fail';

/**
/**
 * An IQ still queued and offline at the deadline: one never sent the update stayed offline and ends
 * `timed_out` (F4), which says nothing of the release. One sent it, queued again after its in-progress
 * timeout, never came back from it: what a release that bricks IQs looks like, so it fails (error
 * `timeout`) and counts toward the abort threshold.
 */
export const atOfflineDeadline = (attempts: number): 'timed_out' | 'fail' =>
  attempts > 0 ? 'fail' : 'timed_out';

/**
 * The offline deadline. It counts from when the wave looking after the IQ started: an IQ a middle
 * wave left queued is looked after by the waves after it, so it never times out before its own
 * wave's deadline, and at the latest at the last wave's.
 */
export const offlineDeadlinePassed = (nowMs: number, waveStartedAtMs: number, deadlineSeconds: number) =>
  nowMs >= waveStartedAtMs + deadlineSeconds * 1000;

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;
export const isHhMm = (value: string) => HHMM.test(value);
const minutesOf = (hhmm: string) => {
  const m = HHMM.exec(hhmm);
  if (!m) throw new RangeError('expected HH:MM');
  return Number(m[1]) * 60 + Number(m[2]);
};

/** Wall-clock minutes since local midnight (and seconds into the minute) at `instant` in `timeZone`. */
function localTime(instant: Date, timeZone: string) {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hourCycle: 'h23',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(instant);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return { minutes: part('hour') * 60 + part('minute'), seconds: part('second') };
}

function inside(window: MaintenanceWindow, minutes: number) {
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  if (start === end) return true; // start = end names the whole day
  return start < end ? minutes >= start && minutes < end : minutes >= start || minutes < end;
}

/** Whether `instant` is inside the window in the site's local time; no window means always. */
export function insideWindow(
  window: MaintenanceWindow | undefined,
  timeZone: string,
  instant: Date,
): boolean {
  return window === undefined || inside(window, localTime(instant, timeZone).minutes);
}

/**
 * Milliseconds from `instant` until the window next opens in the site's time (0 when inside). Walks
 * forward a minute at a time so DST jumps are handled by the time zone data, not by arithmetic.
 */
export function msUntilWindowOpens(
  window: MaintenanceWindow | undefined,
  timeZone: string,
  instant: Date,
): number {
  if (insideWindow(window, timeZone, instant)) return 0;
  const { seconds } = localTime(instant, timeZone);
  const toNextMinute = (60 - seconds) * 1000 - instant.getUTCMilliseconds();
  for (let step = 0; step <= 2 * 24 * 60; step++) {
    const at = new Date(instant.getTime() + toNextMinute + step * 60_000);
    if (insideWindow(window, timeZone, at)) return at.getTime() - instant.getTime();
  }
  throw new RangeError('window never opens');
}
