/**
 * K5, K7: access changes made while an IQ is unsubscribed (a member removed, methods revoked and
 * granted; a PIN or IQ reset is refused for it, K5), a reconnect while still unsubscribed, then the
 * IQ subscribed again while another change lands: it takes nothing while unsubscribed, and then every
 * change, in order, each version once.
 */
import { expect, it } from 'vitest';
import { accessSyncSystem, expectHoldsWhatTheDatabaseSays, iqVersions, recordAccess } from './harness';

const ks = accessSyncSystem({ name: 'unsubscribed-catch-up' });

it('an IQ unsubscribed through changes and a reconnect catches up on each, in order, once subscribed again', async () => {
  const { siteId, owner } = await ks.a.site();
  const iq = await ks.a.iq(siteId, owner.token);
  const lockId = iq.lockIds[0]!;
  const device = await ks.sims.start(iq.credentials);
  const [ada, bo, cy, dee] = await Promise.all([1, 2, 3, 4].map(() => ks.a.member(siteId)));
  const adaTag = await ks.a.tag(siteId, owner.token, ada!.id);
  const boPin = await ks.a.pin(siteId, owner.token, bo!.id, iq.id);
  const cyKey = await ks.a.ok('POST', `/sites/${siteId}/people/${cy!.id}/access`, owner.token, {
    kind: 'mobile_key',
  });
  const deeTag = await ks.a.tag(siteId, owner.token, dee!.id);
  await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, device);
  const heldBefore = device.accessVersion!;

  await ks.a.ok('PATCH', `/sites/${siteId}/iqs/${iq.id}`, owner.token, { subscribed: false });
  await untilSubscribedIs(false);
  const seen = recordAccess(device);
  await ks.a.ok('DELETE', `/sites/${siteId}/people/${ada!.id}`, owner.token);
  await ks.a.revoke(siteId, owner.token, cy!.id, cyKey.id as string);
  await ks.a.revoke(siteId, owner.token, bo!.id, boPin.id);
  const eve = await ks.a.member(siteId);
  const eveTag = await ks.a.tag(siteId, owner.token, eve.id);
  // K5: the IQ takes no change of its own while unsubscribed.
  for (const [path, body] of [
    [`/sites/${siteId}/people/${dee!.id}/pin-reset`, { iqId: iq.id }],
    [`/sites/${siteId}/iqs/${iq.id}/reset`, undefined],
  ] as const) {
    expect(await ks.a.call('POST', path, owner.token, body)).toMatchObject({
      status: 409,
      body: { code: 'iq_unsubscribed' },
    });
  }
  // A reconnect while unsubscribed: still nothing sent, and the locks keep what they hold.
  await device.goOffline();
  device.goOnline();
  await device.waitFor((m) => m.type === 'welcome' && m.subscribed === false, 10_000);
  expect(device.accessVersion).toBe(heldBefore);
  expect(device.presentTag(lockId, adaTag.tagUid).opened).toBe(true);
  expect(device.presentTag(lockId, eveTag.tagUid).opened).toBe(false);
  const stored = (await iqVersions(ks.sys, iq.id)).version;
  expect(stored).toBeGreaterThan(heldBefore);

  // Subscribed again while one more change lands at the same time.
  const fay = await ks.a.member(siteId);
  const [, fayTag] = await Promise.all([
    ks.a.ok('PATCH', `/sites/${siteId}/iqs/${iq.id}`, owner.token, { subscribed: true }),
    ks.a.tag(siteId, owner.token, fay.id),
  ]);
  await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, device);
  expect(device.refusedAccess).toBe(0);
  // Each version from the one held on, once and in order (a full list only if the deltas were gone).
  const versions = seen.map((m) => m.version);
  expect(versions).toEqual([...new Set(versions)].sort((x, y) => x - y));
  if (!seen[0]?.full) expect(versions[0]).toBe(heldBefore + 1);
  expect(versions.at(-1)).toBe(device.accessVersion);

  expect(device.presentTag(lockId, adaTag.tagUid).opened).toBe(false);
  expect(device.enterPin(lockId, boPin.pin).opened).toBe(false);
  expect(device.presentMobileKey(lockId, cyKey.id as string).opened).toBe(false);
  expect(device.presentTag(lockId, deeTag.tagUid).opened).toBe(true);
  expect(device.presentTag(lockId, eveTag.tagUid).opened).toBe(true);
  expect(device.presentTag(lockId, fayTag.tagUid).opened).toBe(true);

  async function untilSubscribedIs(subscribed: boolean) {
    await device.waitFor((m) => m.type === 'subscription' && m.subscribed === subscribed, 10_000);
  }
}, 60_000);
