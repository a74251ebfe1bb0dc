/**
 * K7 as a property (fast-check): random sequences of access changes through the HTTP API, interleaved
 * with IQs losing power, staying offline, coming back, being unsubscribed and subscribed again, and
 * the gateway restarting. At the end every subscribed IQ holds exactly what the database says it
 * should (an oracle written apart from the code under test) and has acknowledged its current version.
 * ACCESS_PROPERTY_RUNS sets the number of sequences (default 20); ACCESS_PROPERTY_SEED replays one.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/server';
import type { SimulatedIq } from '../../iq-sim/iq';
import { LOOPBACK_FLEET_GUARD } from '../gateway/helpers';
import { addMember } from '../support/fixtures';
import { startTestSystem, type TestSystem } from '../support/system';
import { api, expectedList, heldList, iqVersions, simulator, untilInSync } from './harness';

const RUNS = Number(process.env.ACCESS_PROPERTY_RUNS ?? 20);
const SEED = process.env.ACCESS_PROPERTY_SEED ? Number(process.env.ACCESS_PROPERTY_SEED) : undefined;
const IQS = 3;
const MEMBERS = 3;

let sys: TestSystem;
let gateway: RunningGateway;
let port: number;
let restarts = 0;
let a: ReturnType<typeof api>;
const sims = simulatorPool();

function simulatorPool() {
  const all: Array<ReturnType<typeof simulator>> = [];
  return {
    add(s: ReturnType<typeof simulator>) {
      all.push(s);
      return s;
    },
    stopAll: () => Promise.all(all.map((s) => s.stopAll())),
  };
}

const startGw = () =>
  startGateway({
    db: sys.db,
    sql: sys.sql,
    ports: [port],
    instanceId: `gw-prop-${restarts++}-${randomUUID().slice(0, 6)}`,
    heartbeatSeconds: 1,
    host: '127.0.0.1',
    accessAckTimeoutMs: 1_000,
    guard: LOOPBACK_FLEET_GUARD,
  });

beforeAll(async () => {
  sys = await startTestSystem({});
  a = api(sys);
  port = 0;
  gateway = await startGw();
  port = gateway.ports[0]!;
});
afterAll(async () => {
  await sims.stopAll();
  await gateway?.stop();
  await sys?.close();
});

const member = fc.integer({ min: 0, max: MEMBERS - 1 });
const iq = fc.integer({ min: 0, max: IQS - 1 });
const step = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('tag' as const), member }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pin' as const), member, iq }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('mobile_key' as const), member }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('revoke' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('slot' as const), member }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), member }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rejoin' as const), member }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pin_reset' as const), member, iq }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('iq_reset' as const), iq }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lock' as const), iq }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('iq_slot' as const), iq }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('power_cut' as const), iq }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('offline' as const), iq }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('online' as const), iq }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('gateway_restart' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('pause' as const), ms: fc.integer({ min: 0, max: 300 }) }),
  },
);
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

let runs = 0;
let stepsRun = 0;
const kindsRun = new Map<string, number>();

async function run(steps: Step[]) {
  runs++;
  const { siteId, owner } = await a.site({ usersLimit: 10, iqsLimit: IQS });
  const iqs: Array<Awaited<ReturnType<typeof a.iq>>> = [];
  for (let i = 0; i < IQS; i++) iqs.push(await a.iq(siteId, owner.token, 1 + (i % 2)));
  const people: Array<{ id: string; token: string }> = [];
  for (let i = 0; i < MEMBERS; i++) people.push(await a.member(siteId));
  const present = people.map(() => true);
  const pool = sims.add(simulator({ ports: [port] }));
  const devices: SimulatedIq[] = await Promise.all(iqs.map((i) => pool.start(i.credentials)));
  const offline = new Set<number>();
  /** Access methods granted so far (some revoked since: revoking again answers 404, which is fine). */
  const methods: Array<{ member: number; id: string }> = [];
  const path = (m: number) => `/sites/${siteId}/people/${people[m]!.id}`;

  for (const s of steps) {
    stepsRun++;
    kindsRun.set(s.kind, (kindsRun.get(s.kind) ?? 0) + 1);
    switch (s.kind) {
      case 'tag':
      case 'mobile_key':
      case 'pin': {
        const body =
          s.kind === 'tag'
            ? { kind: 'tag', tagUid: `T-${randomUUID().slice(0, 8)}` }
            : s.kind === 'pin'
              ? { kind: 'pin', iqId: iqs[s.iq]!.id }
              : { kind: 'mobile_key' };
        const res = await a.call('POST', `${path(s.member)}/access`, owner.token, body);
        // 404: removed; 409: a PIN there already, or that IQ is unsubscribed (K5).
        expect([201, 404, 409]).toContain(res.status);
        if (res.status === 201) methods.push({ member: s.member, id: res.body.id as string });
        break;
      }
      case 'revoke': {
        if (methods.length === 0) break;
        const m = methods[s.pick % methods.length]!;
        const res = await a.call('DELETE', `${path(m.member)}/access/${m.id}`, owner.token);
        expect([204, 404]).toContain(res.status);
        break;
      }
      case 'slot': {
        const [row] =
          await sys.sql`select subscribed from memberships where site_id = ${siteId} and profile_id = ${people[s.member]!.id}`;
        if (!row) break;
        const res = await a.call('PATCH', path(s.member), owner.token, { subscribed: !row.subscribed });
        expect([200, 409, 422]).toContain(res.status);
        break;
      }
      case 'remove': {
        const res = await a.call('DELETE', path(s.member), owner.token);
        expect([204, 404]).toContain(res.status);
        present[s.member] = false;
        break;
      }
      case 'rejoin': {
        if (present[s.member]) break;
        await addMember(sys, siteId, people[s.member]!.id, { access: false });
        present[s.member] = true;
        break;
      }
      case 'pin_reset': {
        const res = await a.call('POST', `${path(s.member)}/pin-reset`, owner.token, { iqId: iqs[s.iq]!.id });
        expect([200, 404, 409]).toContain(res.status);
        if (res.status === 200) methods.push({ member: s.member, id: res.body.id as string });
        break;
      }
      case 'iq_reset': {
        const res = await a.call('POST', `/sites/${siteId}/iqs/${iqs[s.iq]!.id}/reset`, owner.token);
        expect([200, 409]).toContain(res.status);
        break;
      }
      case 'lock':
        await a.ok('POST', `/sites/${siteId}/locks`, owner.token, {
          iqId: iqs[s.iq]!.id,
          name: 'Another door',
        });
        break;
      case 'iq_slot': {
        const { subscribed } = await iqVersions(sys, iqs[s.iq]!.id);
        const res = await a.call('PATCH', `/sites/${siteId}/iqs/${iqs[s.iq]!.id}`, owner.token, {
          subscribed: !subscribed,
        });
        expect([200, 409]).toContain(res.status);
        break;
      }
      case 'power_cut':
        devices[s.iq]!.disconnect();
        break;
      case 'offline':
        offline.add(s.iq);
        await devices[s.iq]!.goOffline();
        break;
      case 'online':
        offline.delete(s.iq);
        devices[s.iq]!.goOnline();
        break;
      case 'gateway_restart':
        await gateway.stop();
        gateway = await startGw();
        break;
      case 'pause':
        await new Promise((r) => setTimeout(r, s.ms));
        break;
    }
  }

  for (const i of offline) devices[i]!.goOnline();
  for (const [i, row] of iqs.entries()) {
    if (!(await iqVersions(sys, row.id)).subscribed) continue;
    await untilInSync(sys, row.id, devices[i]!, 30_000);
    expect(heldList(devices[i]!)).toEqual(await expectedList(sys, row.id));
  }
  await pool.stopAll();
}

describe('access sync as a property (K7)', () => {
  it(`random access changes, disconnects, reconnects and gateway restarts: every subscribed IQ ends holding what the database says`, async () => {
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 30 }), run), {
      numRuns: RUNS,
      ...(SEED !== undefined ? { seed: SEED } : {}),
      endOnFailure: true,
    });
    console.log(
      `[access-property] ${runs} sequences, ${stepsRun} steps: ${[...kindsRun].map(([k, n]) => `${k} ${n}`).join(', ')}`,
    );
    expect(runs).toBeGreaterThanOrEqual(RUNS);
  }, 1_800_000);
});
