import { describe, expect, it } from 'vitest';
import { PROBLEMS } from '../../api/problem-codes';
import {
  carryOverSeconds,
  DAY_MS,
  explainCarryOver,
  newTermEnd,
  nextStep,
  pendingReminders,
  reminderIdempotencyKey,
  reminderPlan,
  reminderToSend,
  type SiteRole,
  slotFillOrder,
  subscribeRefusal,
  subscriptionStatus,
  trimToLimits,
} from '../../domain/subscription';

const NOW = Date.UTC(2025, 0, 1);
const DAY_S = 86_400;

describe('carryOverSeconds (V4)', () => {
  it.each([
    {
      name: 'users up only (SPEC example)',
      old: [10, 2],
      next: [20, 2],
      leftMs: 100 * DAY_MS,
      carry: 50 * DAY_S,
    },
    { name: 'IQs up only', old: [10, 2], next: [10, 5], leftMs: 100 * DAY_MS, carry: 40 * DAY_S },
    {
      name: 'both up, IQ increase larger',
      old: [10, 2],
      next: [20, 8],
      leftMs: 100 * DAY_MS,
      carry: 25 * DAY_S,
    },
    {
      name: 'both up, user increase larger',
      old: [10, 4],
      next: [40, 5],
      leftMs: 100 * DAY_MS,
      carry: 25 * DAY_S,
    },
    { name: 'users up, IQs down', old: [10, 4], next: [15, 2], leftMs: 100 * DAY_MS, carry: 5_760_000 },
    { name: 'users down, IQs up', old: [10, 4], next: [5, 6], leftMs: 90 * DAY_MS, carry: 60 * DAY_S },
    { name: 'downgrade carries whole', old: [10, 4], next: [5, 2], leftMs: 100 * DAY_MS, carry: 100 * DAY_S },
    {
      name: 'same limits carry whole',
      old: [10, 4],
      next: [10, 4],
      leftMs: 100 * DAY_MS,
      carry: 100 * DAY_S,
    },
    { name: 'fractional second dropped', old: [10, 4], next: [10, 4], leftMs: 10_000_999, carry: 10_000 },
    { name: 'less than a second left', old: [10, 4], next: [10, 4], leftMs: 999, carry: 0 },
    { name: 'ratio 3/7 on fractional seconds', old: [3, 1], next: [7, 1], leftMs: 10_000_999, carry: 4285 },
    { name: 'ratio 7/10 where floats lose a second', old: [7, 1], next: [10, 1], leftMs: 90_500, carry: 63 },
    {
      name: 'ratio 10/49 vs 3/5, smaller wins',
      old: [10, 3],
      next: [49, 5],
      leftMs: 1_234_567_891,
      carry: 251_952,
    },
    { name: 'raised from 0 carries nothing', old: [5, 0], next: [5, 1], leftMs: 100 * DAY_MS, carry: 0 },
    { name: 'ended exactly now', old: [10, 2], next: [10, 2], leftMs: 0, carry: 0 },
    { name: 'expired', old: [10, 2], next: [20, 2], leftMs: -5 * DAY_MS, carry: 0 },
  ])('$name → $carry s', ({ old, next, leftMs, carry }) => {
    const [oldUsers = 0, oldIqs = 0] = old;
    const [newUsers = 0, newIqs = 0] = next;
    expect(
      carryOverSeconds({
        nowMs: NOW,
        current: { endsAtMs: NOW + leftMs, usersLimit: oldUsers, iqsLimit: oldIqs },
        next: { usersLimit: newUsers, iqsLimit: newIqs },
      }),
    ).toBe(carry);
  });

  it('no previous term → 0', () => {
    expect(carryOverSeconds({ nowMs: NOW, next: { usersLimit: 20, iqsLimit: 2 } })).toBe(0);
  });

  it.each([
    { name: 'fractional limit', usersLimit: 1.5 },
    { name: 'negative limit', usersLimit: -1 },
  ])('rejects a $name', ({ usersLimit }) => {
    expect(() => carryOverSeconds({ nowMs: NOW, next: { usersLimit, iqsLimit: 1 } })).toThrow(RangeError);
  });
});

describe('newTermEnd (V3)', () => {
  it.each([
    {
      name: 'SPEC example: 365 d + 50 d carry',
      durationDays: 365,
      carrySeconds: 50 * DAY_S,
      endMs: NOW + 415 * DAY_MS,
    },
    { name: 'no carry', durationDays: 30, carrySeconds: 0, endMs: NOW + 30 * DAY_MS },
    { name: 'odd carry', durationDays: 1, carrySeconds: 4285, endMs: NOW + DAY_MS + 4_285_000 },
  ])('$name', ({ durationDays, carrySeconds, endMs }) => {
    expect(newTermEnd({ nowMs: NOW, durationDays, carrySeconds })).toBe(endMs);
  });

  it('SPEC example end to end: 100 d left on 10/2, voucher 20/2/365 → now + 415 d', () => {
    const carrySeconds = carryOverSeconds({
      nowMs: NOW,
      current: { endsAtMs: NOW + 100 * DAY_MS, usersLimit: 10, iqsLimit: 2 },
      next: { usersLimit: 20, iqsLimit: 2 },
    });
    expect(carrySeconds).toBe(4_320_000);
    expect(newTermEnd({ nowMs: NOW, durationDays: 365, carrySeconds })).toBe(NOW + 415 * DAY_MS);
  });
});

describe('reminderPlan (V5)', () => {
  it.each([
    { name: '365-day term', termMs: 365 * DAY_MS, offsets: [28, 7, 1] },
    {
      name: 'exactly 28 days: 28-day reminder at the start is kept',
      termMs: 28 * DAY_MS,
      offsets: [28, 7, 1],
    },
    { name: '28 days minus 1 ms', termMs: 28 * DAY_MS - 1, offsets: [7, 1] },
    { name: '10 days', termMs: 10 * DAY_MS, offsets: [7, 1] },
    { name: 'exactly 7 days', termMs: 7 * DAY_MS, offsets: [7, 1] },
    { name: '5 days', termMs: 5 * DAY_MS, offsets: [1] },
    { name: '12 hours', termMs: DAY_MS / 2, offsets: [] },
  ])('$name → $offsets', ({ termMs, offsets }) => {
    const endsAtMs = NOW + termMs;
    expect(reminderPlan({ startsAtMs: NOW, endsAtMs })).toEqual(
      offsets.map((offsetDays) => ({ offsetDays, atMs: endsAtMs - offsetDays * DAY_MS })),
    );
  });

  it('gives exact moments', () => {
    expect(reminderPlan({ startsAtMs: NOW, endsAtMs: NOW + 30 * DAY_MS })).toEqual([
      { offsetDays: 28, atMs: NOW + 2 * DAY_MS },
      { offsetDays: 7, atMs: NOW + 23 * DAY_MS },
      { offsetDays: 1, atMs: NOW + 29 * DAY_MS },
    ]);
  });
});

describe('pendingReminders (V5)', () => {
  const endsAtMs = NOW + 30 * DAY_MS;
  const plan = reminderPlan({ startsAtMs: NOW, endsAtMs });

  it.each<{ name: string; nowMs: number; sent: Array<28 | 7 | 1>; offsets: number[] }>([
    { name: 'at the start, none sent', nowMs: NOW, sent: [], offsets: [28, 7, 1] },
    { name: 'after the 28-day one was sent', nowMs: NOW + 2 * DAY_MS, sent: [28], offsets: [7, 1] },
    { name: 'due now and unsent', nowMs: NOW + 23 * DAY_MS, sent: [28], offsets: [7, 1] },
    {
      name: 'overdue and unsent are still sent once',
      nowMs: NOW + 25 * DAY_MS,
      sent: [],
      offsets: [28, 7, 1],
    },
    { name: 'all sent', nowMs: NOW + 29 * DAY_MS, sent: [28, 7, 1], offsets: [] },
    { name: '1 ms before the end', nowMs: endsAtMs - 1, sent: [28, 7], offsets: [1] },
    { name: 'at the end nothing is sent', nowMs: endsAtMs, sent: [], offsets: [] },
    { name: 'after the end nothing is sent', nowMs: endsAtMs + DAY_MS, sent: [28], offsets: [] },
  ])('$name → $offsets', ({ nowMs, sent, offsets }) => {
    expect(pendingReminders(plan, { nowMs, sent }).map((r) => r.offsetDays)).toEqual(offsets);
  });
});

describe('reminderToSend (V5, as a reminder goes out)', () => {
  const term = { startsAtMs: 0, endsAtMs: 60 * DAY_MS, replaced: false };
  it('an on-time reminder says its offset; a late one the days truly left, counted up', () => {
    expect(reminderToSend({ offsetDays: 28, nowMs: 32 * DAY_MS, term })).toEqual({
      send: true,
      daysLeft: 28,
    });
    expect(reminderToSend({ offsetDays: 28, nowMs: 32 * DAY_MS + 5_000, term })).toEqual({
      send: true,
      daysLeft: 28,
    });
    expect(reminderToSend({ offsetDays: 28, nowMs: 40 * DAY_MS, term })).toEqual({
      send: true,
      daysLeft: 20,
    });
    expect(reminderToSend({ offsetDays: 1, nowMs: 60 * DAY_MS - 1, term })).toEqual({
      send: true,
      daysLeft: 1,
    });
  });
  it('a reminder whose later one is due too is overtaken; none after the end or for a replaced term', () => {
    expect(reminderToSend({ offsetDays: 28, nowMs: 53 * DAY_MS, term })).toEqual({
      send: false,
      reason: 'overtaken',
    });
    expect(reminderToSend({ offsetDays: 7, nowMs: 59 * DAY_MS, term })).toEqual({
      send: false,
      reason: 'overtaken',
    });
    expect(reminderToSend({ offsetDays: 7, nowMs: 58 * DAY_MS, term })).toEqual({
      send: true,
      daysLeft: 2,
    });
    expect(reminderToSend({ offsetDays: 1, nowMs: 60 * DAY_MS, term })).toEqual({
      send: false,
      reason: 'ended',
    });
    expect(reminderToSend({ offsetDays: 28, nowMs: 32 * DAY_MS, term: { ...term, replaced: true } })).toEqual(
      {
        send: false,
        reason: 'replaced',
      },
    );
  });
});

describe('reminderIdempotencyKey', () => {
  it.each([
    { offset: 28 as const, key: 'reminder:term-1:28d' },
    { offset: 7 as const, key: 'reminder:term-1:7d' },
    { offset: 1 as const, key: 'reminder:term-1:1d' },
  ])('$offset → $key', ({ offset, key }) => {
    expect(reminderIdempotencyKey('term-1', offset)).toBe(key);
  });
});

describe('slotFillOrder (V10, new term on a site with none or expired)', () => {
  const member = (profileId: string, role: SiteRole, joinedDay: number, hasValidAccess = true) => ({
    profileId,
    role,
    joinedAtMs: NOW + joinedDay * DAY_MS,
    hasValidAccess,
  });
  // Deliberately shuffled: the owner joined after several others, one admin lacks access,
  // u-b and u-a joined at the same moment.
  const members = [
    member('u-late', 'user', 9),
    member('u-b', 'user', 2),
    member('admin-noaccess', 'admin', 0, false),
    member('owner', 'owner', 5),
    member('u-a', 'user', 2),
    member('admin-2', 'admin', 4),
    member('u-early-noaccess', 'user', 1, false),
    member('admin-1', 'admin', 3),
    member('u-first', 'user', 0),
  ];
  const iqs = [
    { iqId: 'iq-c', registeredAtMs: NOW + 3 },
    { iqId: 'iq-a', registeredAtMs: NOW + 1 },
    { iqId: 'iq-tie-2', registeredAtMs: NOW + 2 },
    { iqId: 'iq-tie-1', registeredAtMs: NOW + 2 },
  ];

  it.each([
    { usersLimit: 0, iqsLimit: 0, memberIds: [], iqIds: [] },
    { usersLimit: 1, iqsLimit: 1, memberIds: ['owner'], iqIds: ['iq-a'] },
    { usersLimit: 2, iqsLimit: 2, memberIds: ['owner', 'admin-1'], iqIds: ['iq-a', 'iq-tie-1'] },
    {
      usersLimit: 5,
      iqsLimit: 3,
      memberIds: ['owner', 'admin-1', 'admin-2', 'u-first', 'u-a'],
      iqIds: ['iq-a', 'iq-tie-1', 'iq-tie-2'],
    },
    {
      usersLimit: 100,
      iqsLimit: 100,
      memberIds: ['owner', 'admin-1', 'admin-2', 'u-first', 'u-a', 'u-b', 'u-late'],
      iqIds: ['iq-a', 'iq-tie-1', 'iq-tie-2', 'iq-c'],
    },
  ])('limits $usersLimit users / $iqsLimit IQs', ({ usersLimit, iqsLimit, memberIds, iqIds }) => {
    expect(slotFillOrder({ usersLimit, iqsLimit, members, iqs })).toEqual({ memberIds, iqIds });
  });

  it('does not depend on input order and does not mutate it', () => {
    const reversed = members.toReversed();
    const before = reversed.map((m) => m.profileId);
    const a = slotFillOrder({ usersLimit: 5, iqsLimit: 3, members, iqs });
    const b = slotFillOrder({ usersLimit: 5, iqsLimit: 3, members: reversed, iqs: iqs.toReversed() });
    expect(b).toEqual(a);
    expect(reversed.map((m) => m.profileId)).toEqual(before);
  });
});

describe('trimToLimits (V10, new term replacing an active one)', () => {
  const sub = (profileId: string, role: SiteRole, day: number) => ({
    profileId,
    role,
    joinedAtMs: NOW,
    subscribedAtMs: NOW + day * DAY_MS,
  });
  // The owner subscribed last of all.
  const subscribedMembers = [
    sub('u-1', 'user', 1),
    sub('owner', 'owner', 9),
    sub('admin', 'admin', 2),
    sub('u-3', 'user', 3),
    sub('u-tie-b', 'user', 4),
    sub('u-tie-a', 'user', 4),
  ];
  const subscribedIqs = [
    { iqId: 'iq-3', registeredAtMs: NOW, subscribedAtMs: NOW + 3 },
    { iqId: 'iq-1', registeredAtMs: NOW, subscribedAtMs: NOW + 1 },
    { iqId: 'iq-2', registeredAtMs: NOW, subscribedAtMs: NOW + 2 },
  ];

  it.each([
    { usersLimit: 10, iqsLimit: 10, members: [], iqs: [] },
    { usersLimit: 6, iqsLimit: 3, members: [], iqs: [] },
    { usersLimit: 5, iqsLimit: 2, members: ['u-tie-b'], iqs: ['iq-3'] },
    { usersLimit: 4, iqsLimit: 1, members: ['u-tie-b', 'u-tie-a'], iqs: ['iq-3', 'iq-2'] },
    {
      usersLimit: 2,
      iqsLimit: 0,
      members: ['u-tie-b', 'u-tie-a', 'u-3', 'admin'],
      iqs: ['iq-3', 'iq-2', 'iq-1'],
    },
    { usersLimit: 1, iqsLimit: 3, members: ['u-tie-b', 'u-tie-a', 'u-3', 'admin', 'u-1'], iqs: [] },
    { usersLimit: 0, iqsLimit: 3, members: ['u-tie-b', 'u-tie-a', 'u-3', 'admin', 'u-1'], iqs: [] },
  ])('limits $usersLimit users / $iqsLimit IQs', ({ usersLimit, iqsLimit, members, iqs }) => {
    expect(trimToLimits({ usersLimit, iqsLimit, subscribedMembers, subscribedIqs })).toEqual({
      unsubscribeMemberIds: members,
      unsubscribeIqIds: iqs,
    });
  });

  it('without a subscribed owner, the most recent non-owners go', () => {
    const withoutOwner = subscribedMembers.filter((m) => m.role !== 'owner');
    expect(
      trimToLimits({ usersLimit: 3, iqsLimit: 3, subscribedMembers: withoutOwner, subscribedIqs }),
    ).toEqual({ unsubscribeMemberIds: ['u-tie-b', 'u-tie-a'], unsubscribeIqIds: [] });
  });

  it('slots filled at one instant go in the reverse of the order they were filled in, not by id', () => {
    // A term after none: every slot filled at NOW, in slotFillOrder's order (admins, then others by
    // join date; IQs by registration). The ids sort the other way round.
    const members = [
      { profileId: 'a-owner', role: 'owner' as const, joinedAtMs: NOW - 30 * DAY_MS },
      { profileId: 'z-admin', role: 'admin' as const, joinedAtMs: NOW - 10 * DAY_MS },
      { profileId: 'b-user', role: 'user' as const, joinedAtMs: NOW - 5 * DAY_MS },
    ];
    const iqsOf = [
      { iqId: 'z-first', registeredAtMs: NOW - 10 * DAY_MS },
      { iqId: 'a-second', registeredAtMs: NOW - 5 * DAY_MS },
    ];
    const filled = slotFillOrder({
      usersLimit: 3,
      iqsLimit: 2,
      members: members.map((m) => ({ ...m, hasValidAccess: true })),
      iqs: iqsOf,
    });
    expect(filled).toEqual({ memberIds: ['a-owner', 'z-admin', 'b-user'], iqIds: ['z-first', 'a-second'] });
    expect(
      trimToLimits({
        usersLimit: 2,
        iqsLimit: 1,
        subscribedMembers: members.map((m) => ({ ...m, subscribedAtMs: NOW })),
        subscribedIqs: iqsOf.map((iq) => ({ ...iq, subscribedAtMs: NOW })),
      }),
    ).toEqual({ unsubscribeMemberIds: ['b-user'], unsubscribeIqIds: ['a-second'] });
  });
});

describe('subscribeRefusal (V8)', () => {
  const ok = {
    actorRole: 'admin' as const,
    siteStatus: 'active' as const,
    usedUserSlots: 4,
    usersLimit: 5,
    targetAlreadySubscribed: false,
    targetHasValidAccess: true,
  };

  it.each<{
    name: string;
    input: Partial<Parameters<typeof subscribeRefusal>[0]>;
    code: string | null;
    status?: number;
  }>([
    { name: 'admin with everything in place', input: {}, code: null },
    { name: 'owner with everything in place', input: { actorRole: 'owner' }, code: null },
    { name: 'user actor', input: { actorRole: 'user' }, code: 'forbidden', status: 403 },
    { name: 'installer actor', input: { actorRole: 'installer' }, code: 'forbidden', status: 403 },
    {
      name: 'forbidden before every other reason',
      input: { actorRole: 'user', siteStatus: 'expired', targetHasValidAccess: false, usedUserSlots: 5 },
      code: 'forbidden',
      status: 403,
    },
    {
      name: 'site never subscribed',
      input: { siteStatus: 'none' },
      code: 'no_valid_subscription',
      status: 403,
    },
    {
      name: 'expired before access and slot',
      input: { siteStatus: 'expired', targetHasValidAccess: false, usedUserSlots: 5 },
      code: 'no_valid_subscription',
      status: 403,
    },
    {
      name: 'already subscribed on an expired site',
      input: { siteStatus: 'expired', targetAlreadySubscribed: true },
      code: 'no_valid_subscription',
      status: 403,
    },
    {
      name: 'no valid access before a full term',
      input: { targetHasValidAccess: false, usedUserSlots: 5 },
      code: 'no_valid_access',
      status: 422,
    },
    { name: 'no free slot', input: { usedUserSlots: 5 }, code: 'no_free_slot', status: 409 },
    { name: 'over the limit', input: { usedUserSlots: 7 }, code: 'no_free_slot', status: 409 },
    { name: 'zero-user term', input: { usedUserSlots: 0, usersLimit: 0 }, code: 'no_free_slot', status: 409 },
    {
      name: 'already subscribed is idempotent even when full',
      input: { targetAlreadySubscribed: true, usedUserSlots: 5 },
      code: null,
    },
    {
      name: 'already subscribed is idempotent even without access',
      input: { targetAlreadySubscribed: true, targetHasValidAccess: false },
      code: null,
    },
  ])('$name → $code', ({ input, code, status }) => {
    const refusal = subscribeRefusal({ ...ok, ...input });
    if (code === null) {
      expect(refusal).toBeNull();
    } else {
      // The rule names the reason; the API's catalogue answers it with the status.
      expect({ ...refusal, status: refusal && PROBLEMS[refusal.code].status }).toMatchObject({
        code,
        status,
      });
      expect(refusal?.message).toMatch(/\w{3,}/);
    }
  });

  it('names the limit when no slot is free', () => {
    expect(subscribeRefusal({ ...ok, usedUserSlots: 5 })?.message).toContain('All 5 user slots');
  });
});

describe('subscriptionStatus', () => {
  const term = { startsAtMs: NOW, endsAtMs: NOW + 30 * DAY_MS };
  it.each([
    { name: 'no term', nowMs: NOW, withTerm: false, status: 'none' },
    { name: 'before the term starts', nowMs: NOW - 1, withTerm: true, status: 'none' },
    { name: 'at the start', nowMs: NOW, withTerm: true, status: 'active' },
    { name: '1 ms before the end', nowMs: term.endsAtMs - 1, withTerm: true, status: 'active' },
    { name: 'at the end', nowMs: term.endsAtMs, withTerm: true, status: 'expired' },
    { name: 'after the end', nowMs: term.endsAtMs + DAY_MS, withTerm: true, status: 'expired' },
  ])('$name → $status', ({ nowMs, withTerm, status }) => {
    expect(subscriptionStatus({ nowMs, term: withTerm ? term : undefined })).toBe(status);
  });
});

describe("nextStep (the subscription workflow's loop)", () => {
  const term = { id: 'T', startsAtMs: NOW, endsAtMs: NOW + 30 * DAY_MS, usersLimit: 10, iqsLimit: 2 };
  const base = {
    nowMs: NOW,
    status: 'active' as const,
    term,
    remindersSent: [] as Array<28 | 7 | 1>,
    receiptsDue: [] as string[],
    expiredEmailsDue: [] as string[],
    expiredInThisRun: false,
    historyLong: false,
  };
  type Input = Parameters<typeof nextStep>[0];

  // `term: undefined` in a row takes the base's term away.
  it.each<{
    name: string;
    input: { [K in keyof Input]?: Input[K] | undefined };
    step: ReturnType<typeof nextStep>;
  }>([
    {
      name: 'a fresh term waits for its 28-day reminder',
      input: {},
      step: { kind: 'wait', for: { kind: 'reminder', offsetDays: 28, atMs: NOW + 2 * DAY_MS } },
    },
    {
      name: 'a receipt due goes first, oldest first',
      input: { receiptsDue: ['A', 'B'], nowMs: term.endsAtMs },
      step: { kind: 'sendReceipt', termId: 'A' },
    },
    {
      name: 'the 28-day reminder at its moment',
      input: { nowMs: NOW + 2 * DAY_MS },
      step: { kind: 'sendReminder', termId: 'T', offsetDays: 28 },
    },
    {
      name: 'after the 28-day one, wait for the 7-day one',
      input: { nowMs: NOW + 2 * DAY_MS, remindersSent: [28] },
      step: { kind: 'wait', for: { kind: 'reminder', offsetDays: 7, atMs: NOW + 23 * DAY_MS } },
    },
    {
      name: 'a clock jump past two moments sends the earlier first',
      input: { nowMs: NOW + 25 * DAY_MS, remindersSent: [28] },
      step: { kind: 'sendReminder', termId: 'T', offsetDays: 7 },
    },
    {
      name: 'all reminders sent: wait for the end',
      input: { nowMs: NOW + 29 * DAY_MS, remindersSent: [28, 7, 1] },
      step: { kind: 'wait', for: { kind: 'end', atMs: term.endsAtMs } },
    },
    {
      name: 'at the end: expire, even with a reminder unsent (too late for it)',
      input: { nowMs: term.endsAtMs, remindersSent: [28] },
      step: { kind: 'expire', termId: 'T' },
    },
    {
      name: 'a jump far past the end: expire, no reminder',
      input: { nowMs: term.endsAtMs + 100 * DAY_MS },
      step: { kind: 'expire', termId: 'T' },
    },
    {
      name: 'expired: its email next',
      input: { status: 'expired', nowMs: term.endsAtMs, expiredEmailsDue: ['T'], expiredInThisRun: true },
      step: { kind: 'sendExpiredEmail', termId: 'T' },
    },
    {
      name: 'a receipt goes before the expired email',
      input: { status: 'expired', expiredEmailsDue: ['T'], receiptsDue: ['U'] },
      step: { kind: 'sendReceipt', termId: 'U' },
    },
    {
      name: 'expired and told: a fresh history',
      input: { status: 'expired', nowMs: term.endsAtMs, expiredInThisRun: true },
      step: { kind: 'continueAsNew' },
    },
    {
      name: 'expired in an earlier run: wait for a redemption',
      input: { status: 'expired', nowMs: term.endsAtMs },
      step: { kind: 'wait', for: { kind: 'redemption' } },
    },
    {
      name: 'no term yet: wait for a redemption',
      input: { status: 'none', term: undefined },
      step: { kind: 'wait', for: { kind: 'redemption' } },
    },
    {
      name: 'a long history: a fresh one once nothing is due',
      input: { historyLong: true },
      step: { kind: 'continueAsNew' },
    },
    {
      name: 'a long history waits for due work',
      input: { historyLong: true, nowMs: NOW + 2 * DAY_MS },
      step: { kind: 'sendReminder', termId: 'T', offsetDays: 28 },
    },
    {
      name: 'a term of 12 hours has no reminder: wait for its end',
      input: { term: { ...term, endsAtMs: NOW + DAY_MS / 2 } },
      step: { kind: 'wait', for: { kind: 'end', atMs: NOW + DAY_MS / 2 } },
    },
    {
      name: 'a 1-day term: its 1-day reminder at once',
      input: { term: { ...term, endsAtMs: NOW + DAY_MS } },
      step: { kind: 'sendReminder', termId: 'T', offsetDays: 1 },
    },
  ])('$name', ({ input, step }) => {
    const { term: rowTerm, ...rest } = { ...base, ...input };
    expect(nextStep({ ...rest, ...(rowTerm ? { term: rowTerm } : {}) } as Input)).toEqual(step);
  });

  it('refuses a moment that is not an integer', () => {
    expect(() => nextStep({ ...base, nowMs: Number.NaN })).toThrow(RangeError);
  });
});

describe('explainCarryOver (V4 in words)', () => {
  const previous = { endsAtMs: NOW + 100 * DAY_MS, usersLimit: 10, iqsLimit: 2 };
  it.each([
    {
      name: 'SPEC example: users doubled, half carried',
      next: { usersLimit: 20, iqsLimit: 2 },
      want: {
        remainingSeconds: 100 * DAY_S,
        carriedSeconds: 50 * DAY_S,
        scaledBy: { limit: 'users', from: 10, to: 20 },
      },
    },
    {
      name: 'both rise: the larger increase names the factor',
      next: { usersLimit: 20, iqsLimit: 8 },
      want: {
        remainingSeconds: 100 * DAY_S,
        carriedSeconds: 25 * DAY_S,
        scaledBy: { limit: 'iqs', from: 2, to: 8 },
      },
    },
    {
      name: 'nothing rises: carried whole',
      next: { usersLimit: 5, iqsLimit: 2 },
      want: { remainingSeconds: 100 * DAY_S, carriedSeconds: 100 * DAY_S },
    },
  ])('$name', ({ next, want }) => {
    const got = explainCarryOver({ nowMs: NOW, previous, next });
    expect(got).toEqual(want);
    expect(got.carriedSeconds).toBe(carryOverSeconds({ nowMs: NOW, current: previous, next }));
  });

  it('no previous term, or one already over, carries nothing', () => {
    const next = { usersLimit: 20, iqsLimit: 2 };
    expect(explainCarryOver({ nowMs: NOW, next })).toEqual({ remainingSeconds: 0, carriedSeconds: 0 });
    expect(explainCarryOver({ nowMs: previous.endsAtMs, previous, next })).toEqual({
      remainingSeconds: 0,
      carriedSeconds: 0,
    });
  });
});
