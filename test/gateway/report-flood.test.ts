/**
 * A lying or compromised IQ flooding `event` reports (thousands in one write, new ids and one id
 * repeated): each report costs the database statements, so a connection's reports are paced (a burst,
 * then a steady rate; held back, never dropped). Here the pace allows 50 and then next to nothing:
 * the flood stores 50, the rest waits in the flooder's own socket, and another IQ keeps opening.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { events } from '../../db/schema';
import { createGatewayClient } from '../../gateway/client';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { startSimulatedIq } from '../../iq-sim/iq';
import { createTestDatabase } from '../support/database';
import { eventually, rawClient, seedIq } from './helpers';

const BURST = 50;
const REPEATS = 30;
/** The burst's reports: the repeats store one row, the new ids one each. */
const ALLOWED_ROWS = 1 + BURST - REPEATS;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let gateway: RunningGateway;
let client: ReturnType<typeof createGatewayClient>;

beforeAll(async () => {
  database = await createTestDatabase();
  gateway = await startGateway({
    db: database.db,
    sql: database.sql,
    ports: [0],
    instanceId: 'gw-report-flood',
    heartbeatSeconds: 30,
    host: '127.0.0.1',
    // One more report an hour after the burst: nothing more within this test.
    deviceReports: { limit: BURST, windowMs: BURST * 3_600_000 },
  });
  client = createGatewayClient({ db: database.db, sql: database.sql, openTimeoutMs: 3_000 });
});
afterAll(async () => {
  await client?.close();
  await gateway?.stop();
  await database?.close();
});

const stored = async (iqId: string) =>
  (await database.db.select().from(events).where(eq(events.iqId, iqId))).length;

it('a flood of event reports is paced: what the pace allows is stored, the rest held back, other IQs served', async () => {
  const flooder = await seedIq(database.db);
  const neighbour = await seedIq(database.db);
  const device = await startSimulatedIq({ ...neighbour.credentials, ports: gateway.ports, reconnect: false });
  const raw = await rawClient(gateway.ports[0]!);
  raw.write(`${JSON.stringify({ type: 'hello', ...flooder.credentials, accessVersion: 0 })}\n`);
  expect(await raw.next()).toMatchObject({ type: 'welcome' });
  const report = (eventId: string) =>
    `${JSON.stringify({ type: 'event', eventId, lockId: flooder.lock.id, kind: 'intrusion' })}\n`;
  const repeated = Array.from({ length: REPEATS }, () => report('same')).join('');
  const fresh = Array.from({ length: 2_000 }, () => report(randomUUID())).join('');
  raw.write(repeated + fresh);

  await eventually(async () => expect(await stored(flooder.iq.id)).toBeGreaterThanOrEqual(ALLOWED_ROWS));
  // The neighbour's opening is answered while the flood waits.
  expect(await client.openLock({ iqId: neighbour.iq.id, lockId: neighbour.lock.id })).toEqual({
    outcome: 'opened',
  });
  await new Promise((r) => setTimeout(r, 500));
  // The repeated id is one row however many times it came; past the burst, nothing more was written.
  expect(await stored(flooder.iq.id)).toBe(ALLOWED_ROWS);
  expect(raw.socket.destroyed).toBe(false);
  raw.socket.destroy();
  await device.stop();
});
