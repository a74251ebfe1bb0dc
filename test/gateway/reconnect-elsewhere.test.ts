/**
 * One IQ says hello on a second gateway instance while its first connection, on another instance, is
 * still open (a NAT rebinding, a device back before its old TCP connection timed out). The newer
 * connection owns the IQ: the first instance's heartbeat flushes, stale sweeps and its connection's
 * close neither mark it offline nor take it back, and remote openings go to the newer connection.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGatewayClient } from '../../gateway/client';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { createTestDatabase } from '../support/database';
import { eventually, iqRow, rawClient, seedIq } from './helpers';

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let first: RunningGateway;
let second: RunningGateway;
let client: ReturnType<typeof createGatewayClient>;

beforeAll(async () => {
  database = await createTestDatabase();
  const common = { db: database.db, sql: database.sql, ports: [0], heartbeatSeconds: 1, host: '127.0.0.1' };
  first = await startGateway({ ...common, instanceId: 'gw-first' });
  second = await startGateway({ ...common, instanceId: 'gw-second' });
  client = createGatewayClient({ db: database.db, sql: database.sql, openTimeoutMs: 2_000 });
});
afterAll(async () => {
  await client?.close();
  await Promise.all([first?.stop(), second?.stop()]);
  await database?.close();
});

const hello = (c: { serial: string; secret: string }) =>
  `${JSON.stringify({ type: 'hello', serial: c.serial, secret: c.secret, model: 'IQ2', firmware: '1.0.0', accessVersion: 0 })}\n`;

it('the newer connection owns the IQ while the older one, on another instance, still talks and then closes', async () => {
  const { iq, lock, credentials } = await seedIq(database.db);
  const old = await rawClient(first.ports[0]!);
  old.write(hello(credentials));
  expect(await old.next()).toMatchObject({ type: 'welcome' });
  const live = await rawClient(second.ports[0]!);
  live.write(hello(credentials));
  expect(await live.next()).toMatchObject({ type: 'welcome' });
  expect(await iqRow(database.db, iq.id)).toMatchObject({ online: true, gatewayInstance: 'gw-second' });

  // Both connections keep beating through several flushes of both instances (each sweeps stale rows).
  const beat = setInterval(() => {
    old.write('{"type":"heartbeat"}\n');
    live.write('{"type":"heartbeat"}\n');
  }, 200);
  await new Promise((r) => setTimeout(r, 3_500));
  expect(await iqRow(database.db, iq.id)).toMatchObject({ online: true, gatewayInstance: 'gw-second' });

  // Openings, several at once, reach the live connection only.
  const opens = Array.from({ length: 3 }, () => client.openLock({ iqId: iq.id, lockId: lock.id }));
  for (let i = 0; i < 3; i++) {
    const command = (await live.next()) as { type: string; requestId: string };
    expect(command.type).toBe('open');
    live.write(`${JSON.stringify({ type: 'open-result', requestId: command.requestId, ok: true })}\n`);
  }
  expect(await Promise.all(opens)).toEqual(Array(3).fill({ outcome: 'opened' }));
  // The older connection was sent nothing since its welcome: no open, no access list twice.
  await expect(old.next(300)).rejects.toThrow('no line');

  // The older connection ends: nothing changes for the live one.
  old.socket.destroy();
  await old.closed;
  await new Promise((r) => setTimeout(r, 2_500));
  clearInterval(beat);
  expect(await iqRow(database.db, iq.id)).toMatchObject({ online: true, gatewayInstance: 'gw-second' });
  live.socket.destroy();
  await eventually(async () => expect((await iqRow(database.db, iq.id)).online).toBe(false));
});
