import { describe, expect, it } from 'vitest';
import {
  afterControl,
  afterInProgressTimeout,
  atOfflineDeadline,
  DEFAULT_POLICY,
  freeSlots,
  idealDurationMs,
  insideWindow,
  msUntilWindowOpens,
  offlineDeadlinePassed,
  parseUpdateId,
  shouldAbort,
  waveEnded,
  waveOfPosition,
  waveSize,
  waveSizes,
  windowLimit,
} from '../../domain/rollout';

const MIN = 60_000;

describe('wave sizes (F4)', () => {
  it.each([
    { name: 'defaults over 200', total: 200, policy: {}, sizes: [5, 10, 20, 40, 50, 50, 25] },
    { name: 'fewer IQs than the canary', total: 3, policy: {}, sizes: [3] },
    { name: 'exactly the canary', total: 5, policy: {}, sizes: [5] },
    { name: 'factor 1 keeps the canary size', total: 7, policy: { growthFactor: 1 }, sizes: [5, 2] },
    {
      name: 'fractional factor rounds down',
      total: 20,
      policy: { canarySize: 2, growthFactor: 1.5 },
      sizes: [2, 3, 4, 6, 5],
    },
    { name: 'cap below the canary', total: 10, policy: { maxConcurrent: 3 }, sizes: [3, 3, 3, 1] },
    { name: 'no IQs, no waves', total: 0, policy: {}, sizes: [] },
  ])('$name', ({ total, policy, sizes }) => {
    const p = { ...DEFAULT_POLICY, ...policy };
    expect(waveSizes(total, p)).toEqual(sizes);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(total);
  });

  it('a position belongs to the wave whose slice holds it', () => {
    for (const policy of [DEFAULT_POLICY, { ...DEFAULT_POLICY, canarySize: 2, growthFactor: 1.5 }]) {
      const sizes = waveSizes(300, policy);
      let position = 0;
      sizes.forEach((size, wave) => {
        for (const end = position + size; position < end; position++) {
          expect(waveOfPosition(position, policy)).toBe(wave);
        }
      });
    }
    expect(waveOfPosition(0, DEFAULT_POLICY)).toBe(0);
    expect(waveOfPosition(4, DEFAULT_POLICY)).toBe(0);
    expect(waveOfPosition(5, DEFAULT_POLICY)).toBe(1);
    expect(waveOfPosition(199, DEFAULT_POLICY)).toBe(6);
  });

  it('never overflows for very late waves', () => {
    expect(waveSize(5000, DEFAULT_POLICY)).toBe(DEFAULT_POLICY.maxConcurrent);
  });
});

describe('abort decision (F4)', () => {
  const policy = { failureThresholdPercent: 10, minFinishedBeforeAbort: 10 };
  it.each([
    { name: 'nothing finished', succeeded: 0, failed: 0, abort: false },
    { name: 'all failed but below the minimum', succeeded: 0, failed: 9, abort: false },
    { name: 'at the minimum, over the threshold', succeeded: 8, failed: 2, abort: true },
    { name: 'exactly at the threshold is not over it', succeeded: 9, failed: 1, abort: false },
    { name: 'just over the threshold', succeeded: 89, failed: 11, abort: true },
    { name: 'well under', succeeded: 100, failed: 3, abort: false },
  ])('$name', ({ succeeded, failed, abort }) => {
    expect(shouldAbort({ succeeded, failed }, policy)).toBe(abort);
  });

  it('with the default policy a canary over the threshold aborts: its IQs are enough to judge', () => {
    const canary = DEFAULT_POLICY.canarySize;
    expect(DEFAULT_POLICY.minFinishedBeforeAbort).toBeLessThanOrEqual(canary);
    expect(shouldAbort({ succeeded: canary - 1, failed: 1 }, DEFAULT_POLICY)).toBe(true);
    expect(shouldAbort({ succeeded: 0, failed: canary }, DEFAULT_POLICY)).toBe(true);
  });

  it('a 0 % threshold aborts on the first failure once the minimum finished', () => {
    expect(
      shouldAbort({ succeeded: 4, failed: 1 }, { failureThresholdPercent: 0, minFinishedBeforeAbort: 5 }),
    ).toBe(true);
    expect(
      shouldAbort({ succeeded: 5, failed: 0 }, { failureThresholdPercent: 0, minFinishedBeforeAbort: 5 }),
    ).toBe(false);
  });
});

describe('retries and deadlines (F4)', () => {
  it.each([
    { attempts: 1, retries: 0, next: 'fail' },
    { attempts: 1, retries: 2, next: 'retry' },
    { attempts: 2, retries: 2, next: 'retry' },
    { attempts: 3, retries: 2, next: 'fail' },
  ] as const)('attempt $attempts of 1 + $retries retries → $next', ({ attempts, retries, next }) => {
    expect(afterInProgressTimeout(attempts, retries)).toBe(next);
  });

  it('at the offline deadline an IQ never sent the update times out; one sent it fails (a bricked IQ)', () => {
    expect(atOfflineDeadline(0)).toBe('timed_out');
    expect(atOfflineDeadline(1)).toBe('fail');
    expect(atOfflineDeadline(3)).toBe('fail');
  });

  it('an offline IQ times out at the deadline counted from its wave', () => {
    const start = Date.UTC(2025, 0, 1);
    expect(offlineDeadlinePassed(start + 59_999, start, 60)).toBe(false);
    expect(offlineDeadlinePassed(start + 60_000, start, 60)).toBe(true);
  });
});

describe('maintenance window in the site’s local time (F7)', () => {
  const night = { start: '01:00', end: '05:00' };
  const crossing = { start: '22:00', end: '02:00' };
  it.each([
    // Berlin is UTC+1 in January, UTC+2 in July.
    { name: 'Berlin 00:59 local', w: night, tz: 'Europe/Berlin', utc: '2025-01-10T23:59:00Z', inside: false },
    { name: 'Berlin 01:00 local', w: night, tz: 'Europe/Berlin', utc: '2025-01-11T00:00:00Z', inside: true },
    { name: 'Berlin 04:59 local', w: night, tz: 'Europe/Berlin', utc: '2025-01-11T03:59:00Z', inside: true },
    {
      name: 'Berlin 05:00 local (end excluded)',
      w: night,
      tz: 'Europe/Berlin',
      utc: '2025-01-11T04:00:00Z',
      inside: false,
    },
    {
      name: 'Berlin summer 01:30 local',
      w: night,
      tz: 'Europe/Berlin',
      utc: '2025-07-10T23:30:00Z',
      inside: true,
    },
    {
      name: 'same instant in New York (19:30)',
      w: night,
      tz: 'America/New_York',
      utc: '2025-07-10T23:30:00Z',
      inside: false,
    },
    { name: 'crossing midnight, 23:00', w: crossing, tz: 'UTC', utc: '2025-01-10T23:00:00Z', inside: true },
    { name: 'crossing midnight, 01:59', w: crossing, tz: 'UTC', utc: '2025-01-11T01:59:00Z', inside: true },
    { name: 'crossing midnight, 02:00', w: crossing, tz: 'UTC', utc: '2025-01-11T02:00:00Z', inside: false },
    { name: 'crossing midnight, 12:00', w: crossing, tz: 'UTC', utc: '2025-01-11T12:00:00Z', inside: false },
    {
      name: 'Tokyo 01:00 local = 16:00 UTC',
      w: night,
      tz: 'Asia/Tokyo',
      utc: '2025-01-10T16:00:00Z',
      inside: true,
    },
    { name: 'no window: always', w: undefined, tz: 'UTC', utc: '2025-01-11T12:00:00Z', inside: true },
  ])('$name', ({ w, tz, utc, inside }) => {
    expect(insideWindow(w, tz, new Date(utc))).toBe(inside);
  });

  it.each([
    { name: 'inside: now', w: night, tz: 'Europe/Berlin', utc: '2025-01-11T00:30:00Z', wait: 0 },
    {
      name: 'Berlin 23:00 → 01:00',
      w: night,
      tz: 'Europe/Berlin',
      utc: '2025-01-10T22:00:00Z',
      wait: 120 * MIN,
    },
    {
      name: 'after the window → next night',
      w: night,
      tz: 'UTC',
      utc: '2025-01-11T05:00:00Z',
      wait: 20 * 60 * MIN,
    },
    {
      name: 'mid-minute rounds to the opening',
      w: night,
      tz: 'UTC',
      utc: '2025-01-11T00:59:30Z',
      wait: 30_000,
    },
    {
      name: 'crossing midnight from noon',
      w: crossing,
      tz: 'UTC',
      utc: '2025-01-11T12:00:00Z',
      wait: 10 * 60 * MIN,
    },
    // 2025-03-30 02:00 Berlin jumps to 03:00: a 02:30 window opening lands at 03:00 local (01:00 UTC).
    {
      name: 'DST gap: opens when the local clock first reaches the window',
      w: { start: '02:30', end: '04:00' },
      tz: 'Europe/Berlin',
      utc: '2025-03-29T23:00:00Z',
      wait: 120 * MIN,
    },
  ])('$name', ({ w, tz, utc, wait }) => {
    expect(msUntilWindowOpens(w, tz, new Date(utc))).toBe(wait);
  });
});

describe('controls (F5)', () => {
  it.each([
    ['running', 'pause', 'paused'],
    ['running', 'resume', 'running'],
    ['running', 'abort', 'aborted'],
    ['paused', 'pause', 'paused'],
    ['paused', 'resume', 'running'],
    ['paused', 'abort', 'aborted'],
    ['aborted', 'pause', 'aborted'],
    ['aborted', 'resume', 'aborted'],
    ['aborted', 'abort', 'aborted'],
    ['completed', 'pause', 'completed'],
    ['completed', 'resume', 'completed'],
    ['completed', 'abort', 'completed'],
  ] as const)('%s, then %s: %s', (status, control, next) => {
    expect(afterControl(status, control)).toBe(next);
  });
});

describe('the sliding window (F4, issue 15)', () => {
  it('starts at the canary and grows by the factor as IQs finish, up to maxConcurrent', () => {
    const limits = [0, 4, 5, 14, 15, 34, 35, 74, 75, 154, 155, 314, 315, 634, 635, 10_000].map((n) =>
      windowLimit(n, { ...DEFAULT_POLICY, maxConcurrent: 500 }),
    );
    expect(limits).toEqual([5, 5, 10, 10, 20, 20, 40, 40, 80, 80, 160, 160, 320, 320, 500, 500]);
    // Each step's limit is the size of the wave the finished count has reached.
    for (let finished = 0; finished < 300; finished++) {
      expect(windowLimit(finished, DEFAULT_POLICY)).toBe(
        waveSize(waveOfPosition(finished, DEFAULT_POLICY), DEFAULT_POLICY),
      );
    }
  });

  it('free slots are the limit beyond those updating, never negative', () => {
    expect(freeSlots(0, 0, DEFAULT_POLICY)).toBe(5);
    expect(freeSlots(3, 0, DEFAULT_POLICY)).toBe(2);
    expect(freeSlots(5, 0, DEFAULT_POLICY)).toBe(0);
    expect(freeSlots(2, 5, DEFAULT_POLICY)).toBe(8);
    // Window shrank below those running (a finished count cannot fall, but a policy can be smaller).
    expect(freeSlots(60, 10_000, DEFAULT_POLICY)).toBe(0);
  });

  it.each([
    {
      name: 'canary with one updating',
      canary: true,
      last: false,
      queuedInWave: 0,
      queued: 0,
      running: 1,
      ended: false,
    },
    {
      name: 'canary all finished',
      canary: true,
      last: false,
      queuedInWave: 0,
      queued: 0,
      running: 0,
      ended: true,
    },
    {
      name: 'canary with one offline',
      canary: true,
      last: false,
      queuedInWave: 1,
      queued: 1,
      running: 0,
      ended: false,
    },
    {
      name: 'middle wave all started',
      canary: false,
      last: false,
      queuedInWave: 0,
      queued: 0,
      running: 40,
      ended: true,
    },
    {
      name: 'middle wave all started, an earlier retry queued',
      canary: false,
      last: false,
      queuedInWave: 0,
      queued: 1,
      running: 3,
      ended: true,
    },
    {
      name: 'middle wave with one to start',
      canary: false,
      last: false,
      queuedInWave: 1,
      queued: 1,
      running: 0,
      ended: false,
    },
    {
      name: 'middle wave, its last start left slots free (one offline)',
      canary: false,
      last: false,
      queuedInWave: 1,
      queued: 1,
      running: 3,
      roomLeft: true,
      ended: true,
    },
    {
      name: 'middle wave, its last start filled the window',
      canary: false,
      last: false,
      queuedInWave: 4,
      queued: 4,
      running: 8,
      roomLeft: false,
      ended: false,
    },
    {
      name: 'canary with one offline, slots free',
      canary: true,
      last: false,
      queuedInWave: 1,
      queued: 1,
      running: 0,
      roomLeft: true,
      ended: false,
    },
    {
      name: 'last wave with one offline, slots free',
      canary: false,
      last: true,
      queuedInWave: 1,
      queued: 1,
      running: 2,
      roomLeft: true,
      ended: false,
    },
    {
      name: 'last wave updating',
      canary: false,
      last: true,
      queuedInWave: 0,
      queued: 0,
      running: 2,
      ended: false,
    },
    {
      name: 'last wave, an earlier retry queued',
      canary: false,
      last: true,
      queuedInWave: 0,
      queued: 1,
      running: 0,
      ended: false,
    },
    {
      name: 'last wave all finished',
      canary: false,
      last: true,
      queuedInWave: 0,
      queued: 0,
      running: 0,
      ended: true,
    },
  ])('a wave ends: $name → $ended', ({ ended, ...wave }) => {
    expect(waveEnded(wave)).toBe(ended);
  });

  it('the ideal duration equals waves × update time when every update takes as long', () => {
    const bench = { ...DEFAULT_POLICY, maxConcurrent: 500 };
    expect(idealDurationMs(10_000, bench, 2_000)).toBe(52_000);
    for (const [total, policy] of [
      [200, DEFAULT_POLICY],
      [3, DEFAULT_POLICY],
      [1_000, { ...DEFAULT_POLICY, canarySize: 2, growthFactor: 1.5, maxConcurrent: 37 }],
      [10, { ...DEFAULT_POLICY, maxConcurrent: 3 }],
    ] as const) {
      expect(idealDurationMs(total, policy, 1_000)).toBe(waveSizes(total, policy).length * 1_000);
    }
    expect(idealDurationMs(0, DEFAULT_POLICY, 1_000)).toBe(0);
  });
});

describe('update ids (F6)', () => {
  const rolloutId = '0b6c1f0e-2f5d-4c3a-9a57-1d2e3f405162';
  it('names the rollout and the attempt', () => {
    expect(parseUpdateId(`${rolloutId}:1`)).toEqual({ rolloutId, attempt: 1 });
    expect(parseUpdateId(`${rolloutId}:12`)).toEqual({ rolloutId, attempt: 12 });
  });

  it.each([
    ['made up', 'u1'],
    ['a bare uuid', rolloutId],
    ['attempt 0', `${rolloutId}:0`],
    ['a leading zero', `${rolloutId}:01`],
    ['an attempt past int4', `${rolloutId}:9999999999`],
    ['not a uuid', `${'-'.repeat(36)}:1`],
    ['upper case, never sent', `${rolloutId.toUpperCase()}:1`],
    ['trailing text', `${rolloutId}:1 `],
  ])('is not an update id: %s', (_, updateId) => {
    expect(parseUpdateId(updateId)).toBeUndefined();
  });
});
