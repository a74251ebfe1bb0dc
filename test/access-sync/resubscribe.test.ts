/**
 * K7 and K5 with the production's liveness flush (30 s): an online IQ subscribed again catches up at
 * once on what changed while it was unsubscribed. Those changes were told to no connection (an
 * unsubscribed IQ takes none), so only its subscription's push can wake its sender; before, a member
 * removed meanwhile kept opening the lock for about 29 s, until the flush found the IQ behind.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { LOOPBACK_FLEET_GUARD } from '../gateway/helpers';
import { startTestSystem, type TestSystem } from '../support/system';
import { api, expectHoldsWhatTheDatabaseSays, simulator, untilInSync } from './harness';

let sys: TestSystem;
let gateway: RunningGateway;
let a: ReturnType<typeof api>;
let sims: ReturnType<typeof simulator>;

beforeAll(async () => {
  sys = await startTestSystem({});
  gateway = await startGateway({
    guard: LOOPBACK_FLEET_GUARD,
    db: sys.db,
    sql: sys.sql,
    ports: [0],
    instanceId: `gw-resubscribe-${randomUUID().slice(0, 8)}`,
    // gateway/main.ts's HEARTBEAT_SECONDS: the liveness flush that finds IQs behind runs this often.
    heartbeatSeconds: 30,
    host: '127.0.0.1',
    accessAckTimeoutMs: 1_000,
  });
  a = api(sys);
  sims = simulator({ ports: gateway.ports });
});
afterAll(async () => {
  await sims?.stopAll();
  await gateway?.stop();
  await sys?.close();
});

it('an online IQ subscribed again takes the changes made while it was unsubscribed at once', async () => {
  const { siteId, owner } = await a.site();
  const iq = await a.iq(siteId, owner.token);
  const device = await sims.start(iq.credentials);
  const ada = await a.member(siteId);
  const tag = await a.tag(siteId, owner.token, ada.id);
  await untilInSync(sys, iq.id, device);
  const lockId = iq.lockIds[0]!;
  expect(device.presentTag(lockId, tag.tagUid).opened).toBe(true);

  await a.ok('PATCH', `/sites/${siteId}/iqs/${iq.id}`, owner.token, { subscribed: false });
  await a.ok('DELETE', `/sites/${siteId}/people/${ada.id}`, owner.token);
  // K5: the IQ took no change meanwhile, so Ada's tag still opens at the lock.
  expect(device.presentTag(lockId, tag.tagUid).opened).toBe(true);
  await a.ok('PATCH', `/sites/${siteId}/iqs/${iq.id}`, owner.token, { subscribed: true });

  // Well within the flush's 30 s: the catch-up rides on the subscription's own push.
  await untilInSync(sys, iq.id, device, 5_000);
  expect(device.presentTag(lockId, tag.tagUid).opened).toBe(false);
  await expectHoldsWhatTheDatabaseSays(sys, iq.id, device);
}, 60_000);
