/**
 * K5, K7: a change of an IQ's subscribed flag reaches its connection through the bus, after the change
 * commits. That push can be lost (the API gone between its commit and its NOTIFY, a gateway's LISTEN
 * connection dropped for a moment); the IQ must still hear it while it stays connected, not only at
 * its next hello.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iqs } from '../../db/schema';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { type SimulatedIq, startSimulatedIq } from '../../iq-sim/iq';
import { createTestDatabase } from '../support/database';
import { eventually, seedIq } from './helpers';

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let gateway: RunningGateway;
const devices: SimulatedIq[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  gateway = await startGateway({
    db: database.db,
    sql: database.sql,
    ports: [0],
    instanceId: 'gw-lost-pushes',
    heartbeatSeconds: 1,
    host: '127.0.0.1',
  });
});
afterAll(async () => {
  await Promise.all(devices.map((d) => d.stop()));
  await gateway?.stop();
  await database?.close();
});

describe('a subscribed flag whose push was lost', () => {
  it('reaches the connected IQ within a few heartbeats, both ways; its locks open again', async () => {
    const { iq, lock, credentials } = await seedIq(database.db, { subscribed: false });
    const device = await startSimulatedIq({ ...credentials, ports: gateway.ports });
    devices.push(device);
    expect(device.subscribed).toBe(false);

    // Written without the bus: the push is lost.
    await database.db.update(iqs).set({ subscribed: true }).where(eq(iqs.id, iq.id));
    await eventually(() => expect(device.subscribed).toBe(true), 5_000);
    expect(await gateway.openLock({ iqId: iq.id, lockId: lock.id })).toEqual({ outcome: 'opened' });

    await database.db.update(iqs).set({ subscribed: false }).where(eq(iqs.id, iq.id));
    await eventually(() => expect(device.subscribed).toBe(false), 5_000);
  });
});
