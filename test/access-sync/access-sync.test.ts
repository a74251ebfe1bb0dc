/**
 * K7 and K8 over real TCP: access changes made through the HTTP API reach simulated IQs through a
 * device gateway (LISTEN/NOTIFY bus, versions, acks), and what the locks report comes back into the
 * audit trail.
 */
import { randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { accessMethods, events } from '../../db/schema';
import { RETAINED_VERSIONS } from '../../domain/access-sync';
import { MAX_LINE_BYTES, serialize } from '../../gateway/protocol';
import { eventually, rawClient } from '../gateway/helpers';
import { sandboxSite } from '../support/sandbox';
import {
  accessSyncSystem,
  expectedList,
  expectHoldsWhatTheDatabaseSays,
  heldList,
  iqVersions,
  recordAccess,
  untilInSync,
} from './harness';

const ks = accessSyncSystem({ name: 'access', handsOverNotifications: true });

const deviceEvents = (iqId: string) =>
  ks.sys.db
    .select()
    .from(events)
    .where(and(eq(events.iqId, iqId), eq(events.actorKind, 'device')))
    .orderBy(asc(events.seq));
const lockEvents = (iqId: string) =>
  ks.sys.sql<
    {
      type: string;
      actor_kind: string;
      actor_profile_id: string | null;
      data: Record<string, unknown>;
      at: Date;
      device_event_id: string;
    }[]
  >`
    select type, actor_kind, actor_profile_id, data, at, device_event_id from events
    where iq_id = ${iqId} and device_event_id is not null order by seq`;

describe('access rights reach the locks (K7)', () => {
  it('a tag granted reaches the online IQ and its lock opens with it; revoked, the lock refuses it', async () => {
    const { siteId, owner } = await ks.a.site();
    const iq = await ks.a.iq(siteId, owner.token, 2);
    const device = await ks.sims.start(iq.credentials);
    const ada = await ks.a.member(siteId);
    const tag = await ks.a.tag(siteId, owner.token, ada.id);

    await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, device);
    expect(device.accessList.get(tag.id)).toMatchObject({
      kind: 'tag',
      tagUid: tag.tagUid,
      memberId: ada.id,
    });
    expect(device.presentTag(iq.lockIds[1]!, tag.tagUid)).toMatchObject({
      opened: true,
      credentialId: tag.id,
    });
    expect(device.presentTag(iq.lockIds[0]!, 'SOMEONE-ELSES-TAG')).toMatchObject({ opened: false });

    await ks.a.revoke(siteId, owner.token, ada.id, tag.id);
    await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, device);
    expect(device.accessList.has(tag.id)).toBe(false);
    expect(device.presentTag(iq.lockIds[1]!, tag.tagUid)).toMatchObject({ opened: false });

    // K8: each attempt is in the audit trail with the member its credential names.
    await eventually(async () => expect(await lockEvents(iq.id)).toHaveLength(3));
    const trail = await lockEvents(iq.id);
    // The revoked tag is one the IQ no longer knows: refused like any stranger's.
    expect(trail.map((e) => [e.type, e.actor_kind, e.actor_profile_id])).toEqual([
      ['lock.opened', 'profile', ada.id],
      ['lock.open_refused', 'device', null],
      ['lock.open_refused', 'device', null],
    ]);
    expect(device.pendingEvents).toHaveLength(0);
    const listed = await ks.a.ok('GET', `/sites/${siteId}/iqs`, owner.token);
    expect((listed as unknown as Array<Record<string, unknown>>)[0]).toMatchObject({
      id: iq.id,
      accessVersion: 2, // the grant, the revoke (the locks came before any credential)
      accessAcked: 2,
    });
  });

  it('PINs: granted on one IQ only, verified by the IQ; a PIN reset replaces it; an IQ reset revokes it', async () => {
    const { siteId, owner } = await ks.a.site();
    const hall = await ks.a.iq(siteId, owner.token);
    const yard = await ks.a.iq(siteId, owner.token);
    const [onHall, onYard] = await Promise.all([
      ks.sims.start(hall.credentials),
      ks.sims.start(yard.credentials),
    ]);
    const bo = await ks.a.member(siteId);
    const pin = await ks.a.pin(siteId, owner.token, bo.id, hall.id);
    await expectHoldsWhatTheDatabaseSays(ks.sys, hall.id, onHall);
    await expectHoldsWhatTheDatabaseSays(ks.sys, yard.id, onYard);
    expect(onYard.accessList.size).toBe(0);
    expect(onHall.enterPin(hall.lockIds[0]!, pin.pin)).toMatchObject({ opened: true, credentialId: pin.id });
    const wrong = pin.pin === '000000' ? '000001' : '000000';
    expect(onHall.enterPin(hall.lockIds[0]!, wrong).opened).toBe(false);

    const reset = await ks.a.ok('POST', `/sites/${siteId}/people/${bo.id}/pin-reset`, owner.token, {
      iqId: hall.id,
    });
    await expectHoldsWhatTheDatabaseSays(ks.sys, hall.id, onHall);
    expect(onHall.accessList.has(pin.id)).toBe(false);
    if (reset.pin !== pin.pin) expect(onHall.enterPin(hall.lockIds[0]!, pin.pin).opened).toBe(false);
    expect(onHall.enterPin(hall.lockIds[0]!, reset.pin as string)).toMatchObject({
      opened: true,
      credentialId: reset.id,
    });

    await ks.a.ok('POST', `/sites/${siteId}/iqs/${hall.id}/reset`, owner.token);
    await expectHoldsWhatTheDatabaseSays(ks.sys, hall.id, onHall);
    expect(onHall.enterPin(hall.lockIds[0]!, reset.pin as string).opened).toBe(false);
  });

  it('a member removed, or unsubscribed from their slot, leaves every IQ; subscribed again, returns', async () => {
    const { siteId, owner } = await ks.a.site();
    const iqs = [await ks.a.iq(siteId, owner.token), await ks.a.iq(siteId, owner.token)];
    const devices = await Promise.all(iqs.map((iq) => ks.sims.start(iq.credentials)));
    const [cy, di] = [await ks.a.member(siteId), await ks.a.member(siteId)];
    const cyTag = await ks.a.tag(siteId, owner.token, cy.id);
    const diTag = await ks.a.tag(siteId, owner.token, di.id);
    await ks.a.ok('PATCH', `/sites/${siteId}/people/${cy.id}`, owner.token, { subscribed: false });
    for (const [i, iq] of iqs.entries()) {
      await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, devices[i]!);
      expect([...devices[i]!.accessList.keys()]).toEqual([diTag.id]);
    }
    await ks.a.ok('PATCH', `/sites/${siteId}/people/${cy.id}`, owner.token, { subscribed: true });
    await ks.a.ok('DELETE', `/sites/${siteId}/people/${di.id}`, owner.token);
    for (const [i, iq] of iqs.entries()) {
      await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, devices[i]!);
      expect([...devices[i]!.accessList.keys()]).toEqual([cyTag.id]);
    }
  });

  it('a lock added to an IQ joins every credential’s lock set on that IQ', async () => {
    const { siteId, owner } = await ks.a.site();
    const iq = await ks.a.iq(siteId, owner.token);
    const device = await ks.sims.start(iq.credentials);
    const ed = await ks.a.member(siteId);
    const tag = await ks.a.tag(siteId, owner.token, ed.id);
    await untilInSync(ks.sys, iq.id, device);
    const gate = (await ks.a.ok('POST', `/sites/${siteId}/locks`, owner.token, { iqId: iq.id, name: 'Gate' }))
      .id as string;
    await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, device);
    expect(device.presentTag(gate, tag.tagUid).opened).toBe(true);
  });

  it('a change too large for one line arrives as several versions; a fresh IQ gets a full list in parts', async () => {
    const { siteId, owner } = await ks.a.site();
    const iq = await ks.a.iq(siteId, owner.token, 0);
    const device = await ks.sims.start(iq.credentials);
    const ned = await ks.a.member(siteId);
    await ks.a.tag(siteId, owner.token, ned.id);
    // 899 more tags written straight to the database: an IQ without locks holds none of them yet.
    await ks.sys.db.insert(accessMethods).values(
      Array.from({ length: 899 }, (_, i) => ({
        siteId,
        profileId: ned.id,
        kind: 'tag' as const,
        tagUid: `BULK-${i}`,
      })),
    );
    await untilInSync(ks.sys, iq.id, device);
    expect(device.accessList.size).toBe(0);
    const seen = recordAccess(device);
    // The first lock: all 900 credentials at once.
    await ks.a.ok('POST', `/sites/${siteId}/locks`, owner.token, { iqId: iq.id, name: 'Main' });
    await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, device);
    expect(device.accessList.size).toBe(900);
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every((m) => !m.full)).toBe(true);
    expect(seen.map((m) => m.version)).toEqual(seen.map((_, i) => seen[0]!.version + i));
    for (const m of seen) expect(Buffer.byteLength(serialize(m))).toBeLessThanOrEqual(MAX_LINE_BYTES);

    // A factory-new device on that IQ says no version: the whole list, as a full part and deltas.
    await device.stop();
    const fresh = await ks.sims.start(iq.credentials);
    await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, fresh);
    const parts = fresh.received.filter((m) => m.type === 'access');
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.map((m) => m.full)).toEqual([true, ...parts.slice(1).map(() => false)]);
    for (const m of parts) expect(Buffer.byteLength(serialize(m))).toBeLessThanOrEqual(MAX_LINE_BYTES);
  });

  it('an offline IQ gets exactly the deltas it missed, in order, when it reconnects', async () => {
    const { siteId, owner } = await ks.a.site();
    const iq = await ks.a.iq(siteId, owner.token);
    const device = await ks.sims.start(iq.credentials);
    const fay = await ks.a.member(siteId);
    await ks.a.tag(siteId, owner.token, fay.id);
    const before = await untilInSync(ks.sys, iq.id, device);

    await device.goOffline();
    const second = await ks.a.tag(siteId, owner.token, fay.id);
    const third = await ks.a.tag(siteId, owner.token, fay.id);
    await ks.a.revoke(siteId, owner.token, fay.id, second.id);
    const behind = await iqVersions(ks.sys, iq.id);
    expect(behind).toMatchObject({ version: before + 3, acked: before });

    const seen = recordAccess(device);
    device.goOnline();
    await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, device);
    expect(seen.map((m) => [m.version, m.full])).toEqual([
      [before + 1, false],
      [before + 2, false],
      [before + 3, false],
    ]);
    expect(seen[0]!.grants.map((g) => g.credentialId)).toEqual([second.id]);
    expect(seen[1]!.grants.map((g) => g.credentialId)).toEqual([third.id]);
    expect(seen[2]).toMatchObject({ grants: [], revokes: [second.id] });
    expect(device.refusedAccess).toBe(0);
  });

  it(`an IQ more than ${RETAINED_VERSIONS} versions behind gets a full list instead`, async () => {
    const { siteId, owner } = await ks.a.site();
    const iq = await ks.a.iq(siteId, owner.token);
    const device = await ks.sims.start(iq.credentials);
    const gil = await ks.a.member(siteId);
    const kept = await ks.a.tag(siteId, owner.token, gil.id);
    await untilInSync(ks.sys, iq.id, device);
    await device.goOffline();
    for (let i = 0; i < RETAINED_VERSIONS / 2 + 1; i++) {
      const t = await ks.a.tag(siteId, owner.token, gil.id);
      await ks.a.revoke(siteId, owner.token, gil.id, t.id);
    }
    const last = await ks.a.tag(siteId, owner.token, gil.id);
    const retained = await ks.sys
      .sql`select count(*)::int as n from iq_access_changes where iq_id = ${iq.id}`;
    expect(retained[0]!.n).toBe(RETAINED_VERSIONS);

    const seen = recordAccess(device);
    device.goOnline();
    await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, device);
    expect(seen.map((m) => m.full)).toEqual([true]);
    expect(seen[0]!.grants.map((g) => g.credentialId).sort()).toEqual([kept.id, last.id].sort());
    expect(seen[0]!.version).toBe((await iqVersions(ks.sys, iq.id)).version);
  });

  it('a profile deletion revokes the person’s credentials on every IQ; what an offline IQ saw them do is recorded anonymized (D7)', async () => {
    const { siteId, owner } = await ks.a.site();
    const support = await ks.sys.signIn({ platformRole: 'support' });
    const iqs = [
      await ks.a.iq(siteId, owner.token),
      await ks.a.iq(siteId, owner.token),
      await ks.a.iq(siteId, owner.token),
    ];
    const devices = await Promise.all(iqs.map((iq) => ks.sims.start(iq.credentials)));
    const hal = await ks.sys.signIn({ name: `Hal Deletable ${randomUUID().slice(0, 6)}` });
    await (await import('../support/fixtures')).addMember(ks.sys, siteId, hal.id, { access: false });
    const tag = await ks.a.tag(siteId, owner.token, hal.id);
    for (const [i, iq] of iqs.entries()) await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, devices[i]!);

    // The third IQ is offline while Hal opens its door and while the deletion happens.
    const offline = devices[2]!;
    await offline.goOffline();
    const seenOffline = offline.presentTag(iqs[2]!.lockIds[0]!, tag.tagUid);
    expect(seenOffline.opened).toBe(true);

    const { fileDeletion, consentToken, answer } = await import('../support/deletion');
    const request = await fileDeletion(ks.sys, support.token, hal.email);
    expect((await answer(ks.sys, await consentToken(ks.sys, request.id, siteId), 'approve')).status).toBe(
      200,
    );
    await eventually(async () => {
      const [row] = await ks.sys.sql`select status from deletion_requests where id = ${request.id}`;
      expect(row?.status).toBe('completed');
    }, 20_000);

    for (const [i, iq] of iqs.slice(0, 2).entries()) {
      await expectHoldsWhatTheDatabaseSays(ks.sys, iq.id, devices[i]!);
      expect(devices[i]!.accessList.has(tag.id)).toBe(false);
      expect(devices[i]!.presentTag(iq.lockIds[0]!, tag.tagUid).opened).toBe(false);
    }
    offline.goOnline();
    await expectHoldsWhatTheDatabaseSays(ks.sys, iqs[2]!.id, offline);
    expect(offline.accessList.size).toBe(0);
    await eventually(async () => expect(offline.pendingEvents).toHaveLength(0));
    const [opened] = await lockEvents(iqs[2]!.id);
    expect(opened).toMatchObject({
      type: 'lock.opened',
      actor_kind: 'deleted-profile',
      actor_profile_id: null,
    });
    expect(opened!.data).toEqual({ source: 'device', credentialId: tag.id, credentialKind: 'tag' });
    // Nothing the IQs were sent keeps the person's id.
    const kept = await ks.sys
      .sql`select count(*)::int as n from iq_access_changes where grants::text like ${`%${hal.id}%`}`;
    expect(kept[0]!.n).toBe(0);
  });

  it('a profile deletion also takes the person’s grants out of the deltas kept at a site they left (D7)', async () => {
    const { siteId, owner } = await ks.a.site();
    await ks.a.iq(siteId, owner.token);
    const support = await ks.sys.signIn({ platformRole: 'support' });
    const { personInSites, fileDeletion, consentToken, answer } = await import('../support/deletion');
    const { person, sites } = await personInSites(ks.sys, 1);
    await (await import('../support/fixtures')).addMember(ks.sys, siteId, person.id, { access: false });
    const tag = await ks.a.tag(siteId, owner.token, person.id);
    // Leaving revokes the tag on the IQ; the delta that granted it stays among the versions kept.
    expect(
      (await ks.sys.request('DELETE', `/sites/${siteId}/people/${person.id}`, { token: person.token }))
        .status,
    ).toBe(204);
    const granted = await ks.sys.sql`select count(*)::int as n from iq_access_changes
      where grants::text like ${`%${tag.tagUid}%`} and grants::text like ${`%${person.id}%`}`;
    expect(granted[0]!.n).toBe(1);

    const request = await fileDeletion(ks.sys, support.token, person.email);
    expect(
      (await answer(ks.sys, await consentToken(ks.sys, request.id, sites[0]!.id), 'approve')).status,
    ).toBe(200);
    await eventually(async () => {
      const [row] = await ks.sys.sql`select status from deletion_requests where id = ${request.id}`;
      expect(row?.status).toBe('completed');
    }, 20_000);
    const kept = await ks.sys.sql`select count(*)::int as n from iq_access_changes
      where grants::text like ${`%${tag.tagUid}%`} or grants::text like ${`%${person.id}%`}`;
    expect(kept[0]!.n).toBe(0);
  });

  it('an unsubscribed IQ is sent nothing and expiry sends nothing; after a redemption fills the slots it catches up', async () => {
    const support = await ks.sys.signIn({ platformRole: 'support' });
    const owner = await ks.sys.signIn();
    const siteId = (await sandboxSite(ks.sys, support.token, owner)).id;
    const { voucher } = await import('../support/fixtures');
    const first = await voucher(ks.sys, { usersLimit: 5, iqsLimit: 1, durationDays: 1 });
    await ks.a.ok('POST', `/sites/${siteId}/subscription/redemptions`, owner.token, { code: first.code });
    const hall = await ks.a.iq(siteId, owner.token);
    const annex = await ks.a.iq(siteId, owner.token);
    expect([hall.subscribed, annex.subscribed]).toEqual([true, false]);
    const [onHall, onAnnex] = await Promise.all([
      ks.sims.start(hall.credentials),
      ks.sims.start(annex.credentials),
    ]);
    const annexSeen = recordAccess(onAnnex);
    const ivy = await ks.a.member(siteId);
    const tag = await ks.a.tag(siteId, owner.token, ivy.id);
    await expectHoldsWhatTheDatabaseSays(ks.sys, hall.id, onHall);
    expect((await iqVersions(ks.sys, annex.id)).version).toBeGreaterThan(0);
    expect(onAnnex.accessVersion).toBeUndefined();

    // The term ends: every IQ and member loses its slot, and the locks keep what they hold (V6).
    const hallSeen = recordAccess(onHall);
    const hallVersion = (await iqVersions(ks.sys, hall.id)).version;
    await ks.a.ok('POST', `/support/sites/${siteId}/clock`, support.token, { advanceSeconds: 2 * 86_400 });
    await eventually(async () => expect(onHall.subscribed).toBe(false), 20_000);
    expect((await iqVersions(ks.sys, hall.id)).version).toBe(hallVersion);
    expect(onHall.presentTag(hall.lockIds[0]!, tag.tagUid).opened).toBe(true);

    const second = await voucher(ks.sys, { usersLimit: 5, iqsLimit: 2, durationDays: 30 });
    await ks.a.ok('POST', `/sites/${siteId}/subscription/redemptions`, owner.token, { code: second.code });
    await eventually(async () => expect(onAnnex.subscribed).toBe(true), 20_000);
    await expectHoldsWhatTheDatabaseSays(ks.sys, annex.id, onAnnex);
    await expectHoldsWhatTheDatabaseSays(ks.sys, hall.id, onHall);
    expect(annexSeen.length).toBeGreaterThan(0);
    expect(annexSeen[0]!.full).toBe(true);
    expect(onAnnex.presentTag(annex.lockIds[0]!, tag.tagUid).opened).toBe(true);
    expect(hallSeen).toEqual([]);
  });
});

describe('what the locks report (K8)', () => {
  it('an event uploaded twice is stored once and acknowledged both times', async () => {
    const { siteId, owner } = await ks.a.site();
    const iq = await ks.a.iq(siteId, owner.token);
    const raw = await rawClient(ks.gateway.ports[0]!);
    raw.write(`${JSON.stringify({ type: 'hello', ...iq.credentials, accessVersion: 0 })}\n`);
    expect(await raw.next()).toMatchObject({ type: 'welcome', subscribed: true });
    const event = {
      type: 'event',
      eventId: 'e-17',
      lockId: iq.lockIds[0],
      kind: 'door_left_open',
      at: new Date(Date.now() - 60_000).toISOString(),
    };
    raw.write(`${JSON.stringify(event)}\n${JSON.stringify(event)}\n`);
    expect(await raw.next()).toEqual({ type: 'event-ack', eventId: 'e-17' });
    expect(await raw.next()).toEqual({ type: 'event-ack', eventId: 'e-17' });
    // The same id from another connection (a reconnect) is still the same event.
    raw.socket.destroy();
    const again = await rawClient(ks.gateway.ports[0]!);
    again.write(`${JSON.stringify({ type: 'hello', ...iq.credentials, accessVersion: 0 })}\n`);
    await again.next();
    again.write(`${JSON.stringify(event)}\n`);
    expect(await again.next()).toEqual({ type: 'event-ack', eventId: 'e-17' });
    const rows = await lockEvents(iq.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      type: 'lock.door_left_open',
      actor_kind: 'device',
      device_event_id: 'e-17',
    });
    expect(new Date(rows[0]!.at).toISOString()).toBe(event.at);
    again.socket.destroy();
  });

  it('events buffered while offline are uploaded on reconnect in their order with their own times', async () => {
    const { siteId, owner } = await ks.a.site();
    const iq = await ks.a.iq(siteId, owner.token);
    const device = await ks.sims.start(iq.credentials);
    const jo = await ks.a.member(siteId);
    const tag = await ks.a.tag(siteId, owner.token, jo.id);
    await untilInSync(ks.sys, iq.id, device);
    await device.goOffline();
    const lock = iq.lockIds[0]!;
    const ids: string[] = [];
    for (const step of ['tag', 'unknown', 'battery', 'tag', 'tamper'] as const) {
      if (step === 'tag') ids.push(device.presentTag(lock, tag.tagUid).eventId);
      if (step === 'unknown') ids.push(device.presentTag(lock, 'NOT-A-TAG').eventId);
      if (step === 'battery') ids.push(device.sendEvent(lock, 'low_battery'));
      if (step === 'tamper') ids.push(device.sendEvent(lock, 'tamper'));
      await new Promise((r) => setTimeout(r, 30));
    }
    const times = device.pendingEvents.map((e) => e.at);
    expect(device.pendingEvents).toHaveLength(5);
    await new Promise((r) => setTimeout(r, 300));
    device.goOnline();
    await eventually(async () => expect(device.pendingEvents).toHaveLength(0));
    const stored = await lockEvents(iq.id);
    expect(stored.map((e) => e.device_event_id)).toEqual(ids);
    expect(stored.map((e) => new Date(e.at).toISOString())).toEqual(times);
    expect(stored.map((e) => e.type)).toEqual([
      'lock.opened',
      'lock.open_refused',
      'lock.low_battery',
      'lock.opened',
      'lock.tamper',
    ]);
    expect((await deviceEvents(iq.id)).map((e) => e.type)).toEqual([
      'lock.open_refused',
      'lock.low_battery',
      'lock.tamper',
    ]);
  });

  it('a device that lies is answered bad_message and writes nothing', async () => {
    const { siteId, owner } = await ks.a.site();
    const iq = await ks.a.iq(siteId, owner.token);
    const other = await ks.a.site();
    const otherIq = await ks.a.iq(other.siteId, other.owner.token);
    const kim = await ks.a.member(siteId);
    const remote = (
      await ks.a.ok('POST', `/sites/${siteId}/people/${kim.id}/access`, owner.token, { kind: 'remote' })
    ).id;
    const pinElsewhere = await ks.a.pin(siteId, owner.token, kim.id, (await ks.a.iq(siteId, owner.token)).id);
    const lee = await ks.a.member(other.siteId);
    const foreignTag = await ks.a.tag(other.siteId, other.owner.token, lee.id);
    const raw = await rawClient(ks.gateway.ports[0]!);
    raw.write(`${JSON.stringify({ type: 'hello', ...iq.credentials, accessVersion: 0 })}\n`);
    expect(await raw.next()).toMatchObject({ type: 'welcome' });
    const base = { type: 'event', lockId: iq.lockIds[0], kind: 'opened' };
    const lies = [
      { ...base, eventId: 'l1', lockId: otherIq.lockIds[0] }, // another site's lock
      { ...base, eventId: 'l2', credentialId: randomUUID() }, // no such credential
      { ...base, eventId: 'l3', credentialId: foreignTag.id }, // another site's
      { ...base, eventId: 'l4', credentialId: remote }, // remote opens through the cloud, not at the door
      { ...base, eventId: 'l5', credentialId: pinElsewhere.id }, // a PIN of another IQ
      { ...base, eventId: 'l6', at: new Date(Date.now() + 3_600_000).toISOString() }, // the future
      { ...base, eventId: 'l7', at: '2001-01-01T00:00:00Z' }, // before the IQ existed
      { ...base, eventId: 'l8', kind: 'exploded' },
      { type: 'access-ack', version: 999 }, // a version never issued
    ];
    for (const lie of lies) {
      raw.write(`${JSON.stringify(lie)}\n`);
      expect(await raw.next()).toEqual({ type: 'error', code: 'bad_message' });
    }
    raw.write(`${JSON.stringify({ ...base, eventId: 'x'.repeat(70_000) })}\n`);
    expect(await raw.next()).toEqual({ type: 'error', code: 'bad_message' });
    await raw.closed;
    expect(await lockEvents(iq.id)).toEqual([]);
    expect(await iqVersions(ks.sys, iq.id)).toMatchObject({ acked: 0 });
  });

  it('a refused opening at the door notifies the owner who chose it (K6)', async () => {
    const { siteId, owner } = await ks.a.site();
    await ks.a.ok('PUT', `/sites/${siteId}/notifications`, owner.token, {
      eventTypes: ['lock.open_refused'],
    });
    const iq = await ks.a.iq(siteId, owner.token);
    const device = await ks.sims.start(iq.credentials);
    await untilInSync(ks.sys, iq.id, device);
    device.presentTag(iq.lockIds[0]!, 'STRANGER');
    await eventually(async () => {
      const mail = (await ks.sys.mailbox()).filter(
        (m) => m.template === 'event-notification' && m.to === owner.email.toLowerCase(),
      );
      expect(mail).toHaveLength(1);
    }, 20_000);
  });
});

describe('the list held equals the oracle', () => {
  it('the harness oracle is the list the gateway would send (sanity: a member with every kind)', async () => {
    const { siteId, owner } = await ks.a.site();
    const iq = await ks.a.iq(siteId, owner.token, 3);
    const device = await ks.sims.start(iq.credentials);
    const lu = await ks.a.member(siteId);
    await ks.a.tag(siteId, owner.token, lu.id);
    await ks.a.pin(siteId, owner.token, lu.id, iq.id);
    await ks.a.ok('POST', `/sites/${siteId}/people/${lu.id}/access`, owner.token, { kind: 'mobile_key' });
    await ks.a.ok('POST', `/sites/${siteId}/people/${lu.id}/access`, owner.token, { kind: 'remote' });
    await untilInSync(ks.sys, iq.id, device);
    const expected = await expectedList(ks.sys, iq.id);
    expect(expected.size).toBe(3);
    expect(heldList(device)).toEqual(expected);
  });
});
