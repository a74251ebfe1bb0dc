/**
 * Devices that flood, stop reading, vanish mid-hello or acknowledge what they were never sent (a
 * hostile review of the gateway, 2026-12-07): each costs the gateway nothing it keeps, and the other
 * IQs keep working.
 */
import { eq } from 'drizzle-orm';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/client';
import { iqs } from '../../db/schema';
import { createGatewayClient } from '../../gateway/client';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { startSimulatedIq } from '../../iq-sim/iq';
import { createTestDatabase } from '../support/database';
import { eventually, iqRow, rawClient, seedIq } from './helpers';

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let gateway: RunningGateway;
let client: ReturnType<typeof createGatewayClient>;
/** Reads of whole access lists the gateway made (a sync from scratch), counted off its statements. */
let wholeListReads = 0;
/** The gateway's messages by direction and type. */
const metrics = new Registry();

beforeAll(async () => {
  database = await createTestDatabase();
  const counted = new Proxy(database.db, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property !== 'execute') return typeof value === 'function' ? value.bind(target) : value;
      return (query: { queryChunks?: unknown }) => {
        if (JSON.stringify(query?.queryChunks ?? '').includes('iq_access_entries')) wholeListReads++;
        return value.call(target, query);
      };
    },
  }) as Db;
  gateway = await startGateway({
    db: counted,
    sql: database.sql,
    ports: [0],
    instanceId: 'gw-faults',
    heartbeatSeconds: 30,
    host: '127.0.0.1',
    helloTimeoutMs: 1_000,
    accessAckTimeoutMs: 200,
    guard: { maxConnectionsPerAddress: 100, maxFailedHellos: 100, windowMs: 60_000 },
    metrics,
  });
  client = createGatewayClient({ db: database.db, sql: database.sql, openTimeoutMs: 3_000 });
});
afterAll(async () => {
  await client?.close();
  await gateway?.stop();
  await database?.close();
});

const port = () => gateway.ports[0]!;
const hello = (c: { serial: string; secret: string }, accessVersion?: number) =>
  `${JSON.stringify({ type: 'hello', serial: c.serial, secret: c.secret, model: 'IQ2', firmware: '1.0.0', ...(accessVersion === undefined ? {} : { accessVersion }) })}\n`;

describe('a device that floods or does not read', () => {
  it('one write of 32,000 bad lines before any hello, never read: other IQs keep opening, and the flooder goes at its deadline', async () => {
    const good = await seedIq(database.db);
    const device = await startSimulatedIq({ ...good.credentials, ports: gateway.ports, reconnect: false });
    const flooder = await rawClient(port(), { localAddress: '127.0.0.77' });
    // It reads none of its answers: a bad_message for each line it sent.
    flooder.socket.pause();
    flooder.write('x\n'.repeat(32_000));
    const outcomes: string[] = [];
    const until = Date.now() + 1_500;
    while (Date.now() < until) {
      outcomes.push((await client.openLock({ iqId: good.iq.id, lockId: good.lock.id })).outcome);
    }
    // Its hello deadline closed it meanwhile; reading lets its socket see the end.
    flooder.socket.resume();
    await flooder.closed;
    // The IQ answered every open, and opens went on while the flood was handled: with one promise per
    // line, where each bad line's thrown parse error cost a walk of the lines still waiting, a single
    // open was answered in those 1.5 s (it took 30 s); handled line by line, hundreds are.
    expect(outcomes.length).toBeGreaterThan(10);
    expect(outcomes.every((outcome) => outcome === 'opened')).toBe(true);
    expect(device.connected).toBe(true);
    await device.stop();
  });

  it('an IQ that stops reading its answers is not read either: what it sends waits in its own buffers', async () => {
    const { credentials } = await seedIq(database.db, { subscribed: false });
    const raw = await rawClient(port());
    raw.write(hello(credentials, 0));
    expect(await raw.next()).toMatchObject({ type: 'welcome' });
    raw.socket.pause();
    // Six megabytes of lines the gateway answers bad_message each (38 bytes an answer), none read.
    const lines = 2_000_000;
    raw.write('{}\n'.repeat(lines));
    const handled = async () =>
      ((await metrics.getSingleMetric('gateway_messages_total')?.get())?.values ?? []).find(
        (v) => v.labels.direction === 'in' && v.labels.type === 'invalid',
      )?.value ?? 0;
    // Until the gateway stops taking lines: it stops once its answers back up.
    let last = -1;
    for (let now = await handled(); now !== last; now = await handled()) {
      last = now;
      await new Promise((r) => setTimeout(r, 500));
    }
    // The answers the kernel's socket buffers hold, not the six megabytes' two million.
    expect(last).toBeGreaterThan(0);
    expect(last).toBeLessThan(lines / 2);
    expect(raw.socket.writableLength).toBeGreaterThan(0);
    expect(raw.socket.destroyed).toBe(false);
    raw.socket.destroy();
  });
});

describe('a device that vanishes or lies', () => {
  it('gone while its hello is checked: nothing keeps syncing its access list, and its row is offline', async () => {
    const { iq, credentials } = await seedIq(database.db);
    // A list the IQ has never acknowledged: a hello without accessVersion asks for all of it.
    await database.db.update(iqs).set({ accessVersion: 2 }).where(eq(iqs.id, iq.id));
    for (let i = 0; i < 10; i++) {
      const raw = await rawClient(port());
      raw.write(hello(credentials));
      // Gone before its welcome, while the gateway checks the hello and marks the IQ online.
      await new Promise((r) => setTimeout(r, i % 3));
      raw.socket.destroy();
      await raw.closed;
    }
    await eventually(async () => expect((await iqRow(database.db, iq.id)).online).toBe(false));
    // A sender left behind would read the list again every 200 ms (its acknowledgement deadline).
    await new Promise((r) => setTimeout(r, 500));
    const before = wholeListReads;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(wholeListReads - before).toBe(0);
    expect((await iqRow(database.db, iq.id)).online).toBe(false);
  });

  it('gone after it was sent an open, or replaced by a second hello: the outcome is unknown (timeout), never offline', async () => {
    const { iq, lock, credentials } = await seedIq(database.db);
    for (const goes of ['drops', 'replaced'] as const) {
      const raw = await rawClient(port());
      raw.write(hello(credentials, 0));
      expect(await raw.next()).toMatchObject({ type: 'welcome' });
      const answer = gateway.openLock({ iqId: iq.id, lockId: lock.id });
      // The IQ has the command: it may open the door and lose its answer with the connection.
      expect(await raw.next()).toMatchObject({ type: 'open', lockId: lock.id });
      let next: Awaited<ReturnType<typeof rawClient>> | undefined;
      if (goes === 'drops') raw.socket.destroy();
      else {
        next = await rawClient(port());
        next.write(hello(credentials, 0));
      }
      expect(await answer).toEqual({ outcome: 'timeout' });
      raw.socket.destroy();
      next?.socket.destroy();
    }
    // Nothing was sent to an IQ that is not connected: that one is offline.
    await eventually(async () => expect((await iqRow(database.db, iq.id)).online).toBe(false));
    expect(await gateway.openLock({ iqId: iq.id, lockId: lock.id })).toEqual({ outcome: 'offline' });
  });

  it('an acknowledgement of a version it was never sent is a bad message and records nothing', async () => {
    const { iq, credentials } = await seedIq(database.db, { subscribed: false });
    // Changes made while the IQ was unsubscribed (K5): none is sent to it.
    await database.db.update(iqs).set({ accessVersion: 3 }).where(eq(iqs.id, iq.id));
    const raw = await rawClient(port());
    raw.write(hello(credentials, 0));
    expect(await raw.next()).toMatchObject({ type: 'welcome', subscribed: false });
    raw.write(`${JSON.stringify({ type: 'access-ack', version: 3 })}\n`);
    expect(await raw.next()).toEqual({ type: 'error', code: 'bad_message' });
    expect((await iqRow(database.db, iq.id)).accessAcked).toBe(0);
    raw.socket.destroy();
  });
});
