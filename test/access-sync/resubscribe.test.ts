/**
 * K7 and K5 with the production's liveness flush (30 s): an online IQ subscribed again catches up at
 * once on what changed while it was unsubscribed. Those changes were told to no connection (an
 * unsubscribed IQ takes none), so only its subscription's push can wake its sender; before, a member
 * removed meanwhile kept opening the lock for about 29 s, until the flush found the IQ behind.
 */
import { expect, it } from 'vitest';
import { accessSyncSystem, expectHoldsWhatTheDatabaseSays, untilInSync } from './harness';

const ks = accessSyncSystem({ name: 'resubscribe', heartbeatSeconds: 30 });

it('an online IQ subscribed again takes the changes made while it was unsubscribed at once', async () => {
  const { siteId, owner } = await ks.a.site();
  const iq = await ks.a.iq(siteId, owner.token);
  const device = await ks.sims.start(iq.credentials);
  const ada = await ks.a.member(siteId);
  const tag = await ks.a.tag(siteId, owner.token, ada.id);
  await untilInSync(ks.sys, iq.id, device);
  const lockId = iq.lockIds[0]!;
  expect(device.presentTag(lockId, tag.tagUid).opened).toBe(true);

  await ks.a.ok('PATCH', `/sites/${siteId}/iqs/${iq.id}`, owner.token, { subscribed: false });
  await ks.a.ok('DELETE', `/sites/${siteId}/people/${ada.id}`, owner.token);
  // K5: the IQ took no change meanwhile, so Ada's tag still opens at the lock.
  expect(device.presentTag(lockId, tag.tagUid).opened).toBe(true);
  await ks.a.ok('PATCH', `/sites/${siteId}/iqs/${iq.id}`, owner.token, { subscribed: true });

  // Well within the flush's 30 s: the catch-up rides on the subscription's own push.
  await untilInSync(ks.sys, iq.id, device, 5_000);
  expect(device.presentTag(lockId, tag.tagUid).opened).toBe(false);
  await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, device);
}, 60_000);
