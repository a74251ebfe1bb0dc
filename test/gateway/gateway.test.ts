import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../db/client';
import { events, firmwareReleases, iqs, rollouts, rolloutTargets } from '../../db/schema';
import { createGatewayClient } from '../../gateway/client';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { startSimulatedIq } from '../../iq-sim/iq';
import { createTestDatabase } from '../support/database';
import { eventually, iqRow, rawClient, seedIq } from './helpers';

let database: Database & { url: string };
/** A second connection pool: the API's client only shares the database with the gateways. */
let apiDatabase: Database;
let a: RunningGateway;
let b: RunningGateway;
let client: ReturnType<typeof createGatewayClient>;

beforeAll(async () => {
  database = await createTestDatabase();
  apiDatabase = connectDatabase(database.url, { max: 2 });
  const common = {
    db: database.db,
    sql: database.sql,
    heartbeatSeconds: 1,
    openTimeoutMs: 1_000,
    host: '127.0.0.1',
  };
  a = await startGateway({ ...common, ports: [0, 0], instanceId: 'gw-a' });
  b = await startGateway({ ...common, ports: [0], instanceId: 'gw-b' });
  client = createGatewayClient({ db: apiDatabase.db, sql: apiDatabase.sql, openTimeoutMs: 1_000 });
});

afterAll(async () => {
  await client?.close();
  await a?.stop();
  await b?.stop();
  await apiDatabase?.close();
  await database?.close();
});

const hello = (c: { serial: string; secret: string; firmware?: string }) =>
  `${JSON.stringify({ type: 'hello', serial: c.serial, secret: c.secret, model: 'IQ2', firmware: c.firmware ?? '1.0.0', accessVersion: 0 })}\n`;

describe('device gateway', () => {
  it('welcomes an IQ with the right secret and keeps its state in PostgreSQL', async () => {
    const { iq, credentials } = await seedIq(database.db);
    const device = await startSimulatedIq({ ...credentials, firmware: '1.2.3', ports: [a.ports[1]!] });
    expect(device.received[0]).toEqual({ type: 'welcome', subscribed: true, heartbeatSeconds: 1 });
    await eventually(async () => {
      const row = await iqRow(database.db, iq.id);
      expect(row).toMatchObject({ online: true, firmware: '1.2.3', gatewayInstance: 'gw-a' });
      expect(row.lastSeenAt).toBeInstanceOf(Date);
    });
    await device.stop();
    await eventually(async () =>
      expect(await iqRow(database.db, iq.id)).toMatchObject({ online: false, gatewayInstance: null }),
    );
  });

  it.each([
    ['a wrong secret', (c: { serial: string; secret: string }) => ({ ...c, secret: `${c.secret}x` })],
    ['an unknown serial', (c: { serial: string; secret: string }) => ({ ...c, serial: 'IQ-unknown' })],
  ])('answers %s with auth_failed and closes', async (_, tamper) => {
    const { iq, credentials } = await seedIq(database.db);
    const raw = await rawClient(a.ports[0]!);
    raw.write(hello(tamper(credentials)));
    expect(await raw.next()).toEqual({ type: 'error', code: 'auth_failed' });
    await raw.closed;
    expect((await iqRow(database.db, iq.id)).online).toBe(false);
  });

  it('answers bad input with bad_message and keeps the connection; hello still works after it', async () => {
    const { credentials } = await seedIq(database.db);
    const raw = await rawClient(a.ports[0]!);
    raw.write('{"type":"heartbeat"}\n');
    expect(await raw.next()).toEqual({ type: 'error', code: 'bad_message' });
    raw.write('this is not json\n');
    expect(await raw.next()).toEqual({ type: 'error', code: 'bad_message' });
    raw.write('{"type":"reboot"}\n');
    expect(await raw.next()).toEqual({ type: 'error', code: 'bad_message' });
    raw.write(hello(credentials));
    expect(await raw.next()).toMatchObject({ type: 'welcome', subscribed: true });
    raw.write('{"type":"hello"}\n');
    expect(await raw.next()).toEqual({ type: 'error', code: 'bad_message' });
    raw.socket.destroy();
  });

  it('answers a line over 64 KiB with bad_message and closes', async () => {
    const raw = await rawClient(a.ports[0]!);
    raw.write(`{"type":"heartbeat","pad":"${'x'.repeat(70 * 1024)}"}\n`);
    expect(await raw.next()).toEqual({ type: 'error', code: 'bad_message' });
    await raw.closed;
  });

  it('marks an IQ offline when its socket drops without a word', async () => {
    const { iq, credentials } = await seedIq(database.db);
    const raw = await rawClient(b.ports[0]!);
    raw.write(hello(credentials));
    await raw.next();
    expect((await iqRow(database.db, iq.id)).online).toBe(true);
    raw.socket.destroy();
    await eventually(async () => expect((await iqRow(database.db, iq.id)).online).toBe(false));
  });

  it('marks an IQ offline after three missed heartbeats and closes its connection', async () => {
    const { iq, credentials } = await seedIq(database.db);
    const silent = await startSimulatedIq({
      ...credentials,
      ports: a.ports,
      heartbeats: false,
      reconnect: false,
    });
    expect((await iqRow(database.db, iq.id)).online).toBe(true);
    const started = Date.now();
    await eventually(async () => expect((await iqRow(database.db, iq.id)).online).toBe(false), 6_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_500);
    expect(silent.connected).toBe(false);
    await silent.stop();
  });

  it('keeps an IQ that sends heartbeats online past three heartbeat intervals', async () => {
    const { iq, credentials } = await seedIq(database.db);
    const device = await startSimulatedIq({ ...credentials, ports: a.ports });
    await new Promise((r) => setTimeout(r, 4_000));
    expect(device.connected).toBe(true);
    expect((await iqRow(database.db, iq.id)).online).toBe(true);
    await device.stop();
  });

  it('delivers opens and subscription changes through the bus to the instance holding the IQ', async () => {
    const { site, iq, lock, credentials } = await seedIq(database.db);
    const device = await startSimulatedIq({ ...credentials, ports: b.ports, latencyMs: 20 });
    await eventually(async () => expect((await iqRow(database.db, iq.id)).gatewayInstance).toBe('gw-b'));

    expect(await client.openLock({ iqId: iq.id, lockId: lock.id })).toEqual({ outcome: 'opened' });
    expect(await device.waitFor((m) => m.type === 'open')).toMatchObject({ type: 'open', lockId: lock.id });

    await database.db.update(iqs).set({ subscribed: false }).where(eq(iqs.id, iq.id));
    await client.subscriptionChanged(site.id);
    expect(await device.waitFor((m) => m.type === 'subscription')).toEqual({
      type: 'subscription',
      subscribed: false,
    });
    expect(await client.openLock({ iqId: iq.id, lockId: lock.id })).toEqual({
      outcome: 'refused',
      reason: 'unsubscribed',
    });
    // Only changes are pushed: telling the gateway again sends nothing new.
    await client.subscriptionChanged(site.id);
    await new Promise((r) => setTimeout(r, 300));
    expect(device.received.filter((m) => m.type === 'subscription')).toHaveLength(1);
    await device.stop();
    await eventually(async () => expect((await iqRow(database.db, iq.id)).online).toBe(false));
    expect(await client.openLock({ iqId: iq.id, lockId: lock.id })).toEqual({ outcome: 'offline' });
  });

  it('answers timeout when the IQ does not answer an open', async () => {
    const { iq, lock, credentials } = await seedIq(database.db);
    const slow = await startSimulatedIq({ ...credentials, ports: a.ports, latencyMs: 3_000 });
    expect(await client.openLock({ iqId: iq.id, lockId: lock.id })).toEqual({ outcome: 'timeout' });
    await slow.stop();
  });

  it('records device events on the IQ’s own locks and refuses events about other locks', async () => {
    const { site, iq, lock, credentials } = await seedIq(database.db);
    const other = await seedIq(database.db);
    const device = await startSimulatedIq({ ...credentials, ports: a.ports });
    device.sendEvent(lock.id, 'tamper');
    device.sendEvent(other.lock.id, 'intrusion');
    expect(await device.waitFor((m) => m.type === 'error')).toEqual({ type: 'error', code: 'bad_message' });
    await eventually(async () => {
      const rows = await database.db.select().from(events).where(eq(events.siteId, site.id));
      expect(
        rows.map((e) => ({ type: e.type, lockId: e.lockId, iqId: e.iqId, actorKind: e.actorKind })),
      ).toEqual([{ type: 'lock.tamper', lockId: lock.id, iqId: iq.id, actorKind: 'device' }]);
    });
    expect(await database.db.select().from(events).where(eq(events.siteId, other.site.id))).toEqual([]);
    await device.stop();
  });

  it('sends an update in flight again when its IQ says hello again; not once it runs the new version, nor while paused', async () => {
    const { iq, credentials } = await seedIq(database.db);
    const [release] = await database.db
      .insert(firmwareReleases)
      .values({
        model: 'IQ2',
        version: `2.${randomUUID().slice(0, 8)}`,
        url: 'ftps://firmware.test/iq2.bin',
        sha256: 'b'.repeat(64),
        sizeBytes: 4096,
      })
      .returning();
    const [rollout] = await database.db
      .insert(rollouts)
      .values({ releaseId: release!.id, target: { iqIds: [iq.id] }, policy: {} })
      .returning();
    const updateId = `${rollout!.id}:1`;
    const target = { rolloutId: rollout!.id, iqId: iq.id, position: 0, updateId, attempts: 1 };
    await database.db
      .insert(rolloutTargets)
      .values({ ...target, state: 'in_progress', startedAt: new Date() });
    const update = {
      type: 'update',
      updateId,
      version: release!.version,
      url: release!.url,
      sha256: release!.sha256,
      sizeBytes: 4096,
    };

    // Back on the old firmware with the attempt in progress: the update comes with the welcome.
    const first = await rawClient(a.ports[0]!);
    first.write(hello(credentials));
    expect(await first.next()).toMatchObject({ type: 'welcome' });
    expect(await first.next()).toEqual(update);
    first.socket.destroy();

    // Already on the release's version (the update worked): nothing is sent.
    const second = await rawClient(b.ports[0]!);
    second.write(hello({ ...credentials, firmware: release!.version }));
    expect(await second.next()).toMatchObject({ type: 'welcome' });
    second.write('{"type":"heartbeat"}\n');
    await expect(second.next(1_500)).rejects.toThrow('no line');
    second.socket.destroy();

    // A paused rollout starts nothing, and resends nothing either.
    await database.db.update(rollouts).set({ status: 'paused' }).where(eq(rollouts.id, rollout!.id));
    const third = await rawClient(a.ports[0]!);
    third.write(hello(credentials));
    expect(await third.next()).toMatchObject({ type: 'welcome' });
    await expect(third.next(1_500)).rejects.toThrow('no line');
    third.socket.destroy();
  });

  it('stops while IQs are connected: their connections end and their rows say offline', async () => {
    const { iq, credentials } = await seedIq(database.db);
    const c = await startGateway({
      db: database.db,
      sql: database.sql,
      heartbeatSeconds: 1,
      host: '127.0.0.1',
      ports: [0],
      instanceId: 'gw-c',
    });
    const device = await startSimulatedIq({ ...credentials, ports: c.ports, reconnect: false });
    await eventually(async () => expect((await iqRow(database.db, iq.id)).gatewayInstance).toBe('gw-c'));
    await c.stop();
    expect(device.connected).toBe(false);
    expect(await iqRow(database.db, iq.id)).toMatchObject({ online: false, gatewayInstance: null });
    await device.stop();
  });

  it('still serves a well-behaved IQ after all the abuse above', async () => {
    const { iq, lock, credentials } = await seedIq(database.db);
    const device = await startSimulatedIq({ ...credentials, ports: a.ports });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(device.connected).toBe(true);
    expect(await client.openLock({ iqId: iq.id, lockId: lock.id })).toEqual({ outcome: 'opened' });
    await device.stop();
  });
});
