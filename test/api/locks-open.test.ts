import { createHash } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessMethods, events, iqs, memberships } from '../../db/schema';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { type SimulatedIq, startSimulatedIq } from '../../iq-sim/iq';
import { eventually, rawClient } from '../gateway/helpers';
import { addMember, createSite, giveAccess, voucher } from '../support/fixtures';
import { startTestSystem, type TestSystem } from '../support/system';

let sys: TestSystem;
let gateway: RunningGateway;
const devices: SimulatedIq[] = [];

beforeAll(async () => {
  sys = await startTestSystem({});
  gateway = await startGateway({
    db: sys.db,
    sql: sys.sql,
    ports: [0],
    instanceId: 'gw-api-test',
    heartbeatSeconds: 1,
    host: '127.0.0.1',
  });
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.stop()));
  await gateway?.stop();
  await sys?.close();
});

type Body = Record<string, unknown>;
const call = async (method: string, path: string, token: string, body?: unknown) => {
  const res = await sys.request(method, path, { token, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, body: (await res.json()) as Body };
};

let serials = 0;
async function registerIq(token: string, siteId: string) {
  const serial = `IQ-T${Date.now()}-${serials++}`;
  const res = await call('POST', `/sites/${siteId}/iqs`, token, { serial, model: 'IQ2', name: 'Hall' });
  expect(res.status).toBe(201);
  return {
    serial,
    id: res.body.id as string,
    subscribed: res.body.subscribed as boolean,
    secret: res.body.deviceSecret as string,
  };
}
async function addLock(token: string, siteId: string, iqId: string) {
  const res = await call('POST', `/sites/${siteId}/locks`, token, { iqId, name: 'Front door' });
  expect(res.status).toBe(201);
  return res.body.id as string;
}
const connectIq = async (iq: { serial: string; secret: string }) => {
  const device = await startSimulatedIq({ ...iq, model: 'IQ2', firmware: '1.0.0', ports: gateway.ports });
  devices.push(device);
  return device;
};
const open = (token: string, siteId: string, lockId: string) =>
  call('POST', `/sites/${siteId}/locks/${lockId}/open`, token);
const subscribeMember = (siteId: string, profileId: string) =>
  sys.db
    .update(memberships)
    .set({ subscribed: true, subscribedAt: new Date() })
    .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, profileId)));

describe('IQs and remote opening', () => {
  let owner: Awaited<ReturnType<TestSystem['signIn']>>;
  let siteId: string;
  let iq1: Awaited<ReturnType<typeof registerIq>>;
  let iq2: Awaited<ReturnType<typeof registerIq>>;
  let iq3: Awaited<ReturnType<typeof registerIq>>;
  let lock1: string;
  let device1: SimulatedIq;

  beforeAll(async () => {
    owner = await sys.signIn();
    siteId = (await createSite(sys, owner.id)).id;
    await giveAccess(sys, siteId, owner.id);
    const v = await voucher(sys, { usersLimit: 10, iqsLimit: 3 });
    expect(
      (await call('POST', `/sites/${siteId}/subscription/redemptions`, owner.token, { code: v.code })).status,
    ).toBe(200);
    iq1 = await registerIq(owner.token, siteId);
    iq2 = await registerIq(owner.token, siteId);
    iq3 = await registerIq(owner.token, siteId);
    lock1 = await addLock(owner.token, siteId, iq1.id);
    device1 = await connectIq(iq1);
  });

  it('registers IQs: the secret is shown once and kept only as its SHA-256; slots fill up to the limit (V9)', async () => {
    expect([iq1.subscribed, iq2.subscribed, iq3.subscribed]).toEqual([true, true, true]);
    expect(iq1.secret.length).toBeGreaterThanOrEqual(22);
    const [row] = await sys.db.select().from(iqs).where(eq(iqs.id, iq1.id));
    expect(row!.secretHash).toBe(createHash('sha256').update(iq1.secret).digest('hex'));
    const fourth = await registerIq(owner.token, siteId);
    expect(fourth.subscribed).toBe(false);
    const subscribe = await call('PATCH', `/sites/${siteId}/iqs/${fourth.id}`, owner.token, {
      subscribed: true,
    });
    expect(subscribe).toMatchObject({ status: 409, body: { code: 'no_free_slot' } });

    const dup = await call('POST', `/sites/${siteId}/iqs`, owner.token, { serial: iq1.serial, model: 'IQ2' });
    expect(dup).toMatchObject({ status: 409, body: { code: 'serial_taken' } });

    const list = await sys.request('GET', `/sites/${siteId}/iqs`, { token: owner.token });
    const body = (await list.json()) as Body[];
    expect(body.find((i) => i.id === iq1.id)).toEqual({
      id: iq1.id,
      serial: iq1.serial,
      model: 'IQ2',
      name: 'Hall',
      subscribed: true,
      online: true,
      firmware: '1.0.0',
      // The owner holds only a remote method, which no IQ carries: its list is the empty one it acked.
      accessVersion: 0,
      accessAcked: 0,
    });
    expect(body.find((i) => i.id === iq2.id)).toMatchObject({ online: false, firmware: null });
  });

  it('keeps IQs and locks to their site and their roles', async () => {
    const stranger = await sys.signIn();
    const otherSite = await createSite(sys, stranger.id);
    expect(
      (await call('POST', `/sites/${otherSite.id}/locks`, stranger.token, { iqId: iq1.id, name: 'x' }))
        .status,
    ).toBe(404);
    expect((await call('GET', `/sites/${siteId}/iqs`, stranger.token)).status).toBe(404);
    const user = await sys.signIn();
    await addMember(sys, siteId, user.id);
    expect((await call('GET', `/sites/${siteId}/iqs`, user.token)).body.code).toBe('forbidden');
    const locks = await sys.request('GET', `/sites/${siteId}/locks`, { token: user.token });
    expect(await locks.json()).toContainEqual({ id: lock1, iqId: iq1.id, name: 'Front door' });
    expect((await open(stranger.token, siteId, lock1)).status).toBe(404);
  });

  it('opens a lock through the gateway and the IQ', async () => {
    expect(await open(owner.token, siteId, lock1)).toEqual({ status: 200, body: { result: 'opened' } });
    expect(await device1.waitFor((m) => m.type === 'open')).toMatchObject({ lockId: lock1 });
  });

  it('refuses members without remote access, even with a PIN on that IQ, and unsubscribed members', async () => {
    const withPin = await sys.signIn();
    await addMember(sys, siteId, withPin.id, { access: false });
    await subscribeMember(siteId, withPin.id);
    await sys.db
      .insert(accessMethods)
      .values({ siteId, profileId: withPin.id, kind: 'pin', iqId: iq1.id, pinHash: 'x' });
    expect(await open(withPin.token, siteId, lock1)).toMatchObject({
      status: 403,
      body: { code: 'no_access' },
    });

    const unsubscribed = await sys.signIn();
    await addMember(sys, siteId, unsubscribed.id);
    expect(await open(unsubscribed.token, siteId, lock1)).toMatchObject({
      status: 403,
      body: { code: 'user_unsubscribed' },
    });

    const revoked = await sys.signIn();
    await addMember(sys, siteId, revoked.id, { access: false });
    await subscribeMember(siteId, revoked.id);
    await sys.db
      .insert(accessMethods)
      .values({ siteId, profileId: revoked.id, kind: 'remote', status: 'revoked' });
    expect(await open(revoked.token, siteId, lock1)).toMatchObject({
      status: 403,
      body: { code: 'no_access' },
    });
  });

  it('refuses an unsubscribed IQ (pushing the change to it) and an offline one', async () => {
    const lock2 = await addLock(owner.token, siteId, iq2.id);
    const device2 = await connectIq(iq2);
    const off = await call('PATCH', `/sites/${siteId}/iqs/${iq2.id}`, owner.token, { subscribed: false });
    expect(off).toMatchObject({ status: 200, body: { subscribed: false } });
    expect(await device2.waitFor((m) => m.type === 'subscription')).toEqual({
      type: 'subscription',
      subscribed: false,
    });
    expect(await open(owner.token, siteId, lock2)).toMatchObject({
      status: 409,
      body: { code: 'iq_unsubscribed' },
    });
    expect(device2.received.some((m) => m.type === 'open')).toBe(false);

    const on = await call('PATCH', `/sites/${siteId}/iqs/${iq2.id}`, owner.token, {
      subscribed: true,
      name: 'Back',
    });
    expect(on).toMatchObject({ status: 200, body: { subscribed: true, name: 'Back' } });
    await device2.waitFor((m) => m.type === 'subscription' && m.subscribed);
    await device2.stop();
    await eventually(async () => {
      const [row] = await sys.db.select().from(iqs).where(eq(iqs.id, iq2.id));
      expect(row!.online).toBe(false);
    });
    expect(await open(owner.token, siteId, lock2)).toMatchObject({
      status: 409,
      body: { code: 'iq_offline' },
    });
  });

  it('answers 409 open_refused with the reason when the IQ says no', async () => {
    const lock3 = await addLock(owner.token, siteId, iq3.id);
    const raw = await rawClient(gateway.ports[0]!);
    raw.write(
      `${JSON.stringify({ type: 'hello', serial: iq3.serial, secret: iq3.secret, model: 'IQ2', firmware: '1', accessVersion: 0 })}\n`,
    );
    expect(await raw.next()).toMatchObject({ type: 'welcome' });
    const answer = open(owner.token, siteId, lock3);
    const command = (await raw.next()) as { type: string; requestId: string };
    expect(command.type).toBe('open');
    raw.write(
      `${JSON.stringify({ type: 'open-result', requestId: command.requestId, ok: false, reason: 'door_jammed' })}\n`,
    );
    const res = await answer;
    expect(res).toMatchObject({ status: 409, body: { code: 'open_refused' } });
    expect(res.body.detail).toContain('door_jammed');
    raw.socket.destroy();
  });

  it('refuses every opening at a site without a valid subscription', async () => {
    const other = await sys.signIn();
    const bare = (await createSite(sys, other.id)).id;
    await giveAccess(sys, bare, other.id);
    const iq = await registerIq(other.token, bare);
    expect(iq.subscribed).toBe(false);
    const lock = await addLock(other.token, bare, iq.id);
    expect(await open(other.token, bare, lock)).toMatchObject({
      status: 403,
      body: { code: 'no_valid_subscription' },
    });
    const subscribe = await call('PATCH', `/sites/${bare}/iqs/${iq.id}`, other.token, { subscribed: true });
    expect(subscribe).toMatchObject({ status: 403, body: { code: 'no_valid_subscription' } });
    const recorded = await sys.db
      .select()
      .from(events)
      .where(and(eq(events.siteId, bare), eq(events.lockId, lock)));
    expect(recorded.map((e) => [e.type, e.data, e.actorProfileId])).toEqual([
      ['lock.open_refused', { reason: 'no_valid_subscription' }, other.id],
    ]);
  });

  it('records every attempt, allowed or refused, as an event with the actor’s id only', async () => {
    const recorded = await sys.db
      .select()
      .from(events)
      .where(and(eq(events.siteId, siteId)))
      .orderBy(events.seq);
    const attempts = recorded.filter((e) => e.type.startsWith('lock.open'));
    expect(attempts.map((e) => [e.type, (e.data as { reason?: string } | null)?.reason ?? null])).toEqual([
      ['lock.opened', null],
      ['lock.open_refused', 'no_access'],
      ['lock.open_refused', 'user_unsubscribed'],
      ['lock.open_refused', 'no_access'],
      ['lock.open_refused', 'iq_unsubscribed'],
      ['lock.open_refused', 'iq_offline'],
      ['lock.open_refused', 'open_refused'],
    ]);
    for (const e of attempts) {
      expect(e.actorProfileId).toEqual(expect.any(String));
      expect(JSON.stringify(e.data ?? {})).not.toMatch(/@/);
    }
  });
});
