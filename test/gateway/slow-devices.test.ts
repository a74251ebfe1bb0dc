/**
 * Slow and stuck devices on the gateway's TCP port, over real sockets: a hello dripped a byte at a
 * time is held only until the hello deadline, and an IQ that stops reading while it still sends its
 * heartbeats is let go once its answers back up (its heartbeats wait behind them, so its liveness
 * runs out), instead of being kept with its unsent answers growing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { createTestDatabase } from '../support/database';
import { eventually, iqRow, rawClient, seedIq } from './helpers';

const HELLO_TIMEOUT_MS = 600;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let gateway: RunningGateway;

beforeAll(async () => {
  database = await createTestDatabase();
  gateway = await startGateway({
    db: database.db,
    sql: database.sql,
    ports: [0],
    instanceId: 'gw-slow',
    heartbeatSeconds: 1,
    host: '127.0.0.1',
    helloTimeoutMs: HELLO_TIMEOUT_MS,
    guard: { maxConnectionsPerAddress: 100, maxFailedHellos: 100, windowMs: 60_000 },
  });
});
afterAll(async () => {
  await gateway?.stop();
  await database?.close();
});

const port = () => gateway.ports[0]!;
const hello = (c: { serial: string; secret: string }) =>
  `${JSON.stringify({ type: 'hello', serial: c.serial, secret: c.secret, model: 'IQ2', firmware: '1.0.0', accessVersion: 0 })}\n`;

describe('a slow or stuck device', () => {
  it('dripping a right hello a byte at a time is closed at the hello deadline, never welcomed', async () => {
    const { iq, credentials } = await seedIq(database.db);
    const raw = await rawClient(port());
    const line = hello(credentials);
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < line.length && !raw.socket.destroyed) raw.write(line[sent++]!);
    }, 50);
    await raw.closed;
    clearInterval(drip);
    expect(sent).toBeLessThan(line.length);
    await expect(raw.next(0)).rejects.toThrow('no line from the gateway');
    expect((await iqRow(database.db, iq.id)).online).toBe(false);
  });

  it('that stops reading and keeps sending heartbeats is closed once its answers back up, and marked offline', async () => {
    const { iq, credentials } = await seedIq(database.db, { subscribed: false });
    const raw = await rawClient(port());
    raw.write(hello(credentials));
    expect(await raw.next()).toMatchObject({ type: 'welcome' });
    raw.socket.pause();
    // Answered bad_message each (38 bytes an answer): far more than the gateway sends unread.
    raw.write('{}\n'.repeat(200_000));
    const beat = setInterval(() => raw.write('{"type":"heartbeat"}\n'), 200);
    await raw.closed;
    clearInterval(beat);
    await eventually(async () => expect((await iqRow(database.db, iq.id)).online).toBe(false));
  });
});
