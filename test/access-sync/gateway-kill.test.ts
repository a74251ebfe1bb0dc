/**
 * K7 under faults: the device gateway runs as a real process (gateway/main.ts) and is SIGKILLed
 * between sending a version and recording its ack, and while changes are being made. Nothing may be
 * lost (every IQ ends holding what the database says) and nothing applied twice (an IQ's version only
 * ever steps by one, or jumps with a full list).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SimulatedIq } from '../../iq-sim/iq';
import { startTestSystem, type TestSystem } from '../support/system';
import { gatewayProcesses } from '../support/worker-process';
import {
  api,
  expectHoldsWhatTheDatabaseSays,
  iqVersions,
  recordAccess,
  simulator,
  untilInSync,
} from './harness';

let sys: TestSystem;
let a: ReturnType<typeof api>;
const gateways = gatewayProcesses(() => ({
  databaseUrl: sys.databaseUrl,
  temporalAddress: inject('devServerAddress'),
  taskQueue: sys.taskQueue,
}));
const sims: Array<ReturnType<typeof simulator>> = [];

beforeAll(async () => {
  sys = await startTestSystem({});
  a = api(sys);
});
afterAll(async () => {
  await Promise.all(sims.map((s) => s.stopAll()));
  await gateways.killAll();
  await sys?.close();
});

/** Every version step the IQ takes: +1 for a delta it applied, any jump only with a full list. */
function watchSteps(iq: SimulatedIq) {
  const seen = recordAccess(iq);
  return {
    seen,
    /** Deltas the IQ was sent for versions it already held (harmless repeats, counted). */
    applied(from: number | undefined) {
      let held = from;
      const steps: Array<[number, boolean]> = [];
      for (const m of seen) {
        if (m.full || (held !== undefined && m.version === held + 1)) {
          steps.push([m.version, m.full]);
          held = m.version;
        }
      }
      return steps;
    },
  };
}

describe('a gateway killed between send and ack', () => {
  it('loses no change and applies none twice: the IQ says what it holds when it reconnects', async () => {
    const ports = await gateways.freePorts(1);
    const gateway = gateways.create(ports, 'gw');
    await gateway.start();
    const s = simulator({ ports, ackDelayMs: 3_000 });
    sims.push(s);
    const { siteId, owner } = await a.site();
    const iq = await a.iq(siteId, owner.token);
    const device = await s.start(iq.credentials);
    const mo = await a.member(siteId);
    const first = await a.tag(siteId, owner.token, mo.id);
    const held = await untilInSync(sys, iq.id, device, 20_000);
    const watch = watchSteps(device);
    try {
      // The IQ applies the next version at once and acknowledges it 3 s later: the gateway dies first.
      const second = await a.tag(siteId, owner.token, mo.id);
      await waitUntil(() => device.accessVersion === held + 1);
      expect((await iqVersions(sys, iq.id)).acked).toBe(held);
      await gateway.kill();
      // A change made while no gateway runs: its NOTIFY goes to the dead instance's channel.
      await a.revoke(siteId, owner.token, mo.id, first.id);
      await gateway.start();
      await expectHoldsWhatTheDatabaseSays(sys, iq.id, device);
      expect(device.accessList.has(second.id)).toBe(true);
      expect(device.accessList.has(first.id)).toBe(false);
      // The version it held when the gateway died was never sent again (its hello said it had it).
      expect(watch.seen.map((m) => m.version)).toEqual([held + 1, held + 2]);
      expect(watch.applied(held)).toEqual([
        [held + 1, false],
        [held + 2, false],
      ]);
      expect(await iqVersions(sys, iq.id)).toMatchObject({ version: held + 2, acked: held + 2 });
    } catch (error) {
      throw new Error(`${String(error)}\n${gateway.log()}`);
    }
  }, 90_000);

  it('two instances, one killed for good while changes go on: its IQs fail over and every IQ ends in sync', async () => {
    const [portA, portB] = await gateways.freePorts(2);
    const gwA = gateways.create([portA!], 'gw-a');
    const gwB = gateways.create([portB!], 'gw-b');
    await Promise.all([gwA.start(), gwB.start()]);
    const { siteId, owner } = await a.site();
    const iqs = [];
    for (let i = 0; i < 8; i++) iqs.push(await a.iq(siteId, owner.token));
    const preferA = simulator({ ports: [portA!, portB!], ackDelayMs: 200 });
    const preferB = simulator({ ports: [portB!, portA!], ackDelayMs: 200 });
    sims.push(preferA, preferB);
    const devices = await Promise.all(
      iqs.map((iq, i) => (i % 2 === 0 ? preferA : preferB).start(iq.credentials)),
    );
    const watches = devices.map(watchSteps);
    const people = [await a.member(siteId), await a.member(siteId), await a.member(siteId)];
    const tags: Array<{ person: (typeof people)[number]; id: string }> = [];
    try {
      let changes = 0;
      const churn = (async () => {
        for (let i = 0; i < 24; i++) {
          const person = people[i % people.length]!;
          if (i % 3 === 2 && tags.length > 0) {
            const t = tags.shift()!;
            await a.revoke(siteId, owner.token, t.person.id, t.id);
          } else {
            tags.push({ person, id: (await a.tag(siteId, owner.token, person.id)).id });
          }
          changes++;
          await new Promise((r) => setTimeout(r, 60));
        }
      })();
      await waitUntil(() => changes >= 8);
      await gwA.kill();
      await churn;
      for (const [i, iq] of iqs.entries()) await expectHoldsWhatTheDatabaseSays(sys, iq.id, devices[i]!);
      const version = (await iqVersions(sys, iqs[0]!.id)).version;
      for (const [i, watch] of watches.entries()) {
        const steps = watch.applied(undefined);
        // Each IQ went through the versions one by one (a full list only at its first hello, if at all).
        const deltas = steps.filter(([, full]) => !full).map(([v]) => v);
        expect(deltas).toEqual([...new Set(deltas)].sort((x, y) => x - y));
        expect(steps.at(-1)?.[0] ?? devices[i]!.accessVersion).toBe(version);
      }
    } catch (error) {
      throw new Error(`${String(error)}\n${gwA.log()}\n${gwB.log()}`);
    }
  }, 120_000);
});

async function waitUntil(check: () => boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
