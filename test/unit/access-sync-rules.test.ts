import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACCESS_MESSAGE_BUDGET_BYTES,
  type AccessGrant,
  type AccessStep,
  ackedAfterHello,
  canonicalGrant,
  catchUpPlan,
  deltasComplete,
  diffAccessList,
  fullListSteps,
  RETAINED_VERSIONS,
  splitChange,
} from '../../domain/access-sync';
import { deviceEventTime, MAX_DEVICE_CLOCK_AHEAD_MS } from '../../domain/device-events';
import { devicePinHash, devicePinKey, devicePinMatches } from '../../domain/device-pin';
import { accessSyncNotifications, commandChannel, MAX_SYNC_IQS } from '../../domain/gateway-bus';
import { CommandSchema } from '../../gateway/command-bus';
import { MAX_LINE_BYTES, parseGatewayMessage, serialize } from '../../gateway/protocol';

const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const grant = (n: number, locks = [uuid(1000)], extra: Partial<AccessGrant> = {}): AccessGrant =>
  canonicalGrant({
    credentialId: uuid(n),
    memberId: uuid(500 + n),
    kind: 'tag',
    lockIds: locks,
    tagUid: `T${n}`,
    ...extra,
  });

/** Applies steps as an IQ does (a full step replaces, a delta revokes then grants). */
function apply(list: Map<string, AccessGrant>, steps: AccessStep[]) {
  const out = new Map(list);
  for (const step of steps) {
    if (step.full) out.clear();
    for (const id of step.revokes) out.delete(id);
    for (const g of step.grants) out.set(g.credentialId, g);
  }
  return out;
}

const lineOf = (step: AccessStep, version: number) => serialize({ type: 'access', version, ...step });

describe('a grant’s one form', () => {
  it('sorts lock ids and leaves out what is not set, so equal grants have equal JSON', () => {
    const a = canonicalGrant({
      credentialId: uuid(1),
      memberId: uuid(2),
      kind: 'pin',
      lockIds: [uuid(9), uuid(3)],
      tagUid: null,
      pinHash: 'ab'.repeat(32),
    });
    expect(a).toEqual({
      credentialId: uuid(1),
      memberId: uuid(2),
      kind: 'pin',
      lockIds: [uuid(3), uuid(9)],
      pinHash: 'ab'.repeat(32),
    });
    expect(JSON.stringify(a)).toBe(
      JSON.stringify(canonicalGrant({ ...a, lockIds: [uuid(3), uuid(9)], tagUid: undefined })),
    );
  });
});

describe('the change between two lists', () => {
  it('grants what is new or different, revokes what is gone, and nothing else', () => {
    const current = new Map([grant(1), grant(2), grant(3)].map((g) => [g.credentialId, g]));
    const moved = grant(2, [uuid(1000), uuid(1001)]);
    const desired = new Map([grant(1), moved, grant(4)].map((g) => [g.credentialId, g]));
    expect(diffAccessList(current, desired)).toEqual({ grants: [moved, grant(4)], revokes: [uuid(3)] });
    expect(diffAccessList(desired, desired)).toEqual({ grants: [], revokes: [] });
  });

  it('property: applying the split change to the old list gives the new one, each step fits a line', () => {
    const list = fc.uniqueArray(fc.integer({ min: 1, max: 400 }), { maxLength: 300 });
    fc.assert(
      fc.property(list, list, fc.integer({ min: 1, max: 4 }), (before, after, locks) => {
        const lockIds = Array.from({ length: locks }, (_, i) => uuid(2000 + i));
        const current = new Map(before.map((n) => [uuid(n), grant(n)]));
        const desired = new Map(after.map((n) => [uuid(n), grant(n, lockIds)]));
        const steps = splitChange(diffAccessList(current, desired));
        expect(apply(current, steps)).toEqual(desired);
        steps.forEach((step, i) => {
          expect(step.full).toBe(false);
          expect(step.grants.length + step.revokes.length).toBeGreaterThan(0);
          expect(Buffer.byteLength(lineOf(step, 2 ** 31 - 1))).toBeLessThanOrEqual(MAX_LINE_BYTES);
          expect(parseGatewayMessage(lineOf(step, i).trimEnd()).ok).toBe(true);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('a change too large for one line takes several versions, revokes first', () => {
    const many = Array.from({ length: 700 }, (_, i) => grant(i + 1, [uuid(3000), uuid(3001), uuid(3002)]));
    const steps = splitChange({ grants: many, revokes: [uuid(9999)] });
    expect(steps.length).toBeGreaterThan(1);
    expect(steps[0]!.revokes).toEqual([uuid(9999)]);
    expect(steps.flatMap((s) => s.grants)).toEqual(many);
    for (const step of steps)
      expect(JSON.stringify(step).length).toBeLessThan(ACCESS_MESSAGE_BUDGET_BYTES + 200);
  });
});

describe('a whole list', () => {
  it('is one full step when it fits, an empty list included', () => {
    expect(fullListSteps([])).toEqual([{ full: true, grants: [], revokes: [] }]);
    expect(fullListSteps([grant(1)])).toEqual([{ full: true, grants: [grant(1)], revokes: [] }]);
  });

  it('too long for a line: a full step with the first part, then deltas granting the rest', () => {
    const many = Array.from({ length: 900 }, (_, i) => grant(i + 1));
    const steps = fullListSteps(many);
    expect(steps.length).toBeGreaterThan(1);
    expect(steps.map((s) => s.full)).toEqual([true, ...steps.slice(1).map(() => false)]);
    // Whatever the IQ held before, the steps leave it with exactly this list.
    const stale = new Map([grant(5000)].map((g) => [g.credentialId, g]));
    expect([...apply(stale, steps).values()]).toEqual(many);
  });
});

describe('what an IQ that says hello is sent', () => {
  it.each([
    [undefined, 0, { kind: 'full' }],
    [undefined, 5, { kind: 'full' }],
    [0, 0, { kind: 'none' }],
    [5, 5, { kind: 'none' }],
    [3, 5, { kind: 'deltas', after: 3 }],
    [0, RETAINED_VERSIONS, { kind: 'deltas', after: 0 }],
    [0, RETAINED_VERSIONS + 1, { kind: 'full' }],
    [6, 5, { kind: 'full' }],
    [-1, 5, { kind: 'full' }],
  ])('holding %s of %s: %o', (device, current, plan) => {
    expect(catchUpPlan(device, current)).toEqual(plan);
  });

  it('deltas are complete only when every version after the IQ’s is there, in order', () => {
    expect(deltasComplete(3, 6, [4, 5, 6])).toBe(true);
    expect(deltasComplete(3, 6, [5, 6])).toBe(false);
    expect(deltasComplete(3, 6, [4, 6, 7])).toBe(false);
    expect(deltasComplete(3, 3, [])).toBe(true);
  });

  it('the acknowledged version after a hello is the IQ’s word when the cloud issued it, else 0', () => {
    expect(ackedAfterHello(4, 7)).toBe(4);
    expect(ackedAfterHello(7, 7)).toBe(7);
    expect(ackedAfterHello(8, 7)).toBe(0);
    expect(ackedAfterHello(undefined, 7)).toBe(0);
  });
});

describe('PINs on the IQ', () => {
  it('verify with the key the IQ derives from its secret, salted by the credential', () => {
    const secret = randomUUID();
    const credential = randomUUID();
    const hash = devicePinHash(devicePinKey(secret), credential, '123456');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(devicePinMatches(devicePinKey(secret), credential, '123456', hash)).toBe(true);
    expect(devicePinMatches(devicePinKey(secret), credential, '123457', hash)).toBe(false);
    expect(devicePinMatches(devicePinKey(`${secret}x`), credential, '123456', hash)).toBe(false);
    expect(devicePinHash(devicePinKey(secret), randomUUID(), '123456')).not.toBe(hash);
  });
});

describe('device event times', () => {
  const now = Date.parse('2030-06-01T12:00:00Z');
  const registered = Date.parse('2030-01-01T00:00:00Z');
  it('keep the IQ’s own time when plausible, take now when none is given', () => {
    expect(deviceEventTime(undefined, now, registered)).toEqual(new Date(now));
    expect(deviceEventTime(now - 86_400_000, now, registered)).toEqual(new Date(now - 86_400_000));
    expect(deviceEventTime(now + MAX_DEVICE_CLOCK_AHEAD_MS, now, registered)).toEqual(
      new Date(now + MAX_DEVICE_CLOCK_AHEAD_MS),
    );
  });
  it('refuse a time far ahead of ours or before the IQ existed', () => {
    expect(deviceEventTime(now + MAX_DEVICE_CLOCK_AHEAD_MS + 1, now, registered)).toBeUndefined();
    expect(deviceEventTime(registered - MAX_DEVICE_CLOCK_AHEAD_MS - 1, now, registered)).toBeUndefined();
    expect(deviceEventTime(Number.NaN, now, registered)).toBeUndefined();
  });
});

describe('access-sync notifications', () => {
  // PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
  const NOTIFY_PAYLOAD_LIMIT = 8000;
  it('carry every IQ with its version, per instance, each payload under the NOTIFY limit', () => {
    const iqs = Array.from({ length: 2 * MAX_SYNC_IQS + 7 }, (_, n) => ({
      iqId: uuid(n),
      instance: n % 3 === 0 ? 'gw-a' : 'gw-b',
      version: 2 ** 31 - 1 - n,
    }));
    const out = accessSyncNotifications(iqs);
    const seen = new Map<string, number>();
    for (const { channel, payload } of out) {
      expect(Buffer.byteLength(payload)).toBeLessThan(NOTIFY_PAYLOAD_LIMIT);
      const command = CommandSchema.parse(JSON.parse(payload));
      if (command.kind !== 'access-sync') throw new Error(command.kind);
      for (const [i, iqId] of command.iqIds.entries()) {
        const sent = iqs.find((q) => q.iqId === iqId)!;
        expect(channel).toBe(commandChannel(sent.instance));
        seen.set(iqId, command.versions[i]!);
      }
    }
    expect(seen).toEqual(new Map(iqs.map((q) => [q.iqId, q.version])));
  });
  it('are refused by the gateway when the versions do not match the IQs one for one', () => {
    const [one] = accessSyncNotifications([{ iqId: uuid(1), instance: 'gw', version: 3 }]);
    const payload = JSON.parse(one!.payload) as { versions: number[] };
    expect(CommandSchema.safeParse({ ...payload, versions: [] }).success).toBe(false);
    expect(CommandSchema.safeParse(payload).success).toBe(true);
  });
});
