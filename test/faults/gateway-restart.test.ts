/**
 * N3, gateway faults: a rollout over simulated IQs while the device gateway runs as a real process
 * (`node --import tsx gateway/main.ts`, test/support/worker-process.ts) and is SIGKILLed mid-rollout.
 *
 * - One instance, killed and started again on the same ports: the IQs reconnect to it.
 * - Two instances, one killed for good: its IQs reconnect to the other (each IQ knows both ports).
 *
 * A kill drops every connection of the instance: an IQ in the middle of an update abandons it and
 * comes back on the old version, and an update sent to the dead instance's channel is lost. Both are
 * the in-progress timeout's to repair (a retry), so every IQ must end `succeeded` within its
 * retries, and no IQ may be sent an update once it is on the release's version.
 */
import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { iqs, rolloutTargets } from '../../db/schema';
import { type Fleet, startFleet } from '../../iq-sim/fleet';
import type { IqCredentials, SimulatedIq } from '../../iq-sim/iq';
import { rolloutWorkflowId } from '../../workflows/ids';
import { eventually, seedSiteWithIqs } from '../gateway/helpers';
import { startTestSystem, type TestSystem } from '../support/system';
import { gatewayProcesses } from '../support/worker-process';

const FLEET = 40;
const POLICY = {
  canarySize: 5,
  growthFactor: 2,
  maxConcurrent: 20,
  // Only exhausted retries fail an IQ here; a kill must not abort the rollout on its own.
  minFinishedBeforeAbort: 100,
  // Long enough for a restarted gateway to be back under load: an update sent to the dead instance
  // (its IQ rows name it until they reconnect) is lost, and each loss costs one retry.
  inProgressTimeoutSeconds: 8,
  retries: 3,
  offlineDeadlineSeconds: 120,
};
const UPDATE = { durationMs: 1_500 };

let sys: TestSystem;
let support: { token: string };
const fleets: Fleet[] = [];
const gateways = gatewayProcesses(() => ({
  databaseUrl: sys.databaseUrl,
  temporalAddress: inject('devServerAddress'),
  taskQueue: sys.taskQueue,
}));

beforeAll(async () => {
  sys = await startTestSystem({});
  support = await sys.signIn({ platformRole: 'support' });
});
afterAll(async () => {
  await Promise.all(fleets.map((f) => f.stop()));
  await gateways.killAll();
  await sys?.close();
});

type Body = Record<string, unknown>;
const call = async (method: string, path: string, body?: unknown) => {
  const res = await sys.request(method, path, {
    token: support.token,
    ...(body !== undefined ? { body } : {}),
  });
  return { status: res.status, body: (await res.json()) as Body };
};

async function seedSite(count: number) {
  const { siteId, iqs: seeded } = await seedSiteWithIqs(sys.db, count, { name: 'Gateway fault test' });
  return { siteId, credentials: seeded.map((iq) => iq.credentials) };
}

async function connect(credentials: IqCredentials[], ports: number[]) {
  const fleet = await startFleet({ credentials, ports, host: '127.0.0.1', update: UPDATE });
  fleets.push(fleet);
  expect(fleet.failed).toEqual([]);
  return fleet;
}

/** Records every update an IQ is sent while it already runs the version the update names. */
function watchLateUpdates(online: SimulatedIq[], late: string[]) {
  for (const iq of online) {
    iq.waitFor((m) => {
      if (m.type === 'update' && iq.firmware === m.version) late.push(`${iq.serial} ${m.updateId}`);
      return false;
    }, 120_000).catch(() => {});
  }
}

let versions = 0;
async function release() {
  const version = `3.${versions++}.0`;
  const res = await call('POST', '/support/firmware-releases', {
    model: 'IQ2',
    version,
    url: `ftps://files.ks.test/iq2-${version}.bin`,
    sha256: createHash('sha256').update(version).digest('hex'),
    sizeBytes: 1024,
  });
  expect(res.status).toBe(201);
  return { id: res.body.id as string, version };
}

async function startRollout(siteId: string, releaseId: string) {
  const res = await call('POST', '/support/rollouts', {
    releaseId,
    target: { siteIds: [siteId] },
    policy: POLICY,
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
}
const counts = async (id: string) => (await call('GET', `/support/rollouts/${id}`)).body.counts as Body;

/** Waits until some IQs succeeded while others are being updated: the moment to kill. */
async function midRollout(id: string) {
  await eventually(async () => {
    const c = await counts(id);
    expect(c.succeeded).toBeGreaterThanOrEqual(5);
    expect(c.inProgress).toBeGreaterThanOrEqual(3);
  }, 30_000);
  return counts(id);
}

/** The end state every kill run must reach, and how many attempts it took. */
async function expectAllSucceeded(id: string, version: string, siteId: string, late: string[]) {
  const end = await sys.temporal.workflow.getHandle(rolloutWorkflowId(id)).result();
  expect(end).toMatchObject({ status: 'completed' });
  expect(await counts(id)).toEqual({
    queued: 0,
    inProgress: 0,
    succeeded: FLEET,
    failed: 0,
    timedOut: 0,
    skipped: 0,
    canceled: 0,
  });
  const targets = await sys.db.select().from(rolloutTargets).where(eq(rolloutTargets.rolloutId, id));
  expect(targets).toHaveLength(FLEET);
  for (const t of targets) expect(t.attempts).toBeLessThanOrEqual(POLICY.retries + 1);
  const rows = await sys.db.select({ firmware: iqs.firmware }).from(iqs).where(eq(iqs.siteId, siteId));
  expect(new Set(rows.map((r) => r.firmware))).toEqual(new Set([version]));
  expect(late).toEqual([]);
  const retried = targets.filter((t) => t.attempts > 1).length;
  const mail = (await sys.mailbox()).filter((m) => m.template === 'rollout-report' && m.text.includes(id));
  expect(mail).toHaveLength(1);
  return { retried, attempts: targets.reduce((n, t) => n + t.attempts, 0) };
}

describe('a gateway process killed mid-rollout', () => {
  it('restarted on the same ports: the IQs reconnect and every IQ ends succeeded', async () => {
    const started = Date.now();
    const ports = await gateways.freePorts(2);
    const gateway = gateways.create(ports, 'gw');
    await gateway.start();
    const site = await seedSite(FLEET);
    const fleet = await connect(site.credentials, ports);
    const late: string[] = [];
    watchLateUpdates(fleet.online, late);
    const rel = await release();
    const id = await startRollout(site.siteId, rel.id);
    try {
      const atKill = await midRollout(id);
      const first = gateway.instanceId;
      expect(await gateway.kill()).toMatchObject({ signal: 'SIGKILL' });
      await gateway.start();
      expect(gateway.instanceId).not.toBe(first);
      // Every IQ is back, on the new instance.
      await eventually(async () => {
        expect(fleet.online.filter((iq) => iq.connected)).toHaveLength(FLEET);
      }, 20_000);
      const outcome = await expectAllSucceeded(id, rel.version, site.siteId, late);
      console.log(
        `[faults] gateway restart: killed at ${JSON.stringify(atKill)}; ${outcome.retried} IQs retried, ` +
          `${outcome.attempts} attempts for ${FLEET} IQs, ${Date.now() - started} ms`,
      );
    } catch (error) {
      throw new Error(`${String(error)}\n${gateway.log()}`);
    }
  }, 90_000);

  it('one of two instances killed for good: its IQs reconnect to the other', async () => {
    const started = Date.now();
    const [portA, portB] = await gateways.freePorts(2);
    const a = gateways.create([portA!], 'gw-a');
    const b = gateways.create([portB!], 'gw-b');
    await Promise.all([a.start(), b.start()]);
    const site = await seedSite(FLEET);
    // Half the IQs prefer each instance; every IQ knows both ports.
    const half = FLEET / 2;
    const fleetA = await connect(site.credentials.slice(0, half), [portA!, portB!]);
    const fleetB = await connect(site.credentials.slice(half), [portB!, portA!]);
    const online = [...fleetA.online, ...fleetB.online];
    const late: string[] = [];
    watchLateUpdates(online, late);
    const byInstance = await sys.db
      .select({ instance: iqs.gatewayInstance })
      .from(iqs)
      .where(eq(iqs.siteId, site.siteId));
    expect(byInstance.filter((r) => r.instance === a.instanceId)).toHaveLength(half);
    const rel = await release();
    const id = await startRollout(site.siteId, rel.id);
    try {
      const atKill = await midRollout(id);
      const survivor = b.instanceId;
      expect(await a.kill()).toMatchObject({ signal: 'SIGKILL' });
      await eventually(async () => {
        expect(online.filter((iq) => iq.connected)).toHaveLength(FLEET);
        const rows = await sys.db
          .select({ instance: iqs.gatewayInstance, online: iqs.online })
          .from(iqs)
          .where(eq(iqs.siteId, site.siteId));
        expect(rows.filter((r) => r.online && r.instance === survivor)).toHaveLength(FLEET);
      }, 20_000);
      const outcome = await expectAllSucceeded(id, rel.version, site.siteId, late);
      console.log(
        `[faults] gateway failover: killed at ${JSON.stringify(atKill)}; ${outcome.retried} IQs retried, ` +
          `${outcome.attempts} attempts for ${FLEET} IQs, ${Date.now() - started} ms`,
      );
    } catch (error) {
      throw new Error(`${String(error)}\n${a.log()}\n${b.log()}`);
    }
  }, 90_000);
});
