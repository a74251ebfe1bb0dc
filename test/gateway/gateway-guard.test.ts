/**
 * The gateway against strangers (API.md device protocol, issue 11 finding 9): a hello deadline, a
 * throttle on failed hellos per address and per serial, and a cap on connections per address, while
 * a well-behaved IQ keeps working. Sources other than 127.0.0.1 are other loopback addresses
 * (127.0.0.0/8 is all local), so "another address" is real to the gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayClient } from '../../gateway/client';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { startSimulatedIq } from '../../iq-sim/iq';
import { createTestDatabase } from '../support/database';
import { eventually, iqRow, rawClient, seedIq } from './helpers';

const HELLO_TIMEOUT_MS = 600;
const GUARD = { maxConnectionsPerAddress: 20, maxFailedHellos: 5, windowMs: 2_500 };

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let gateway: RunningGateway;
let client: ReturnType<typeof createGatewayClient>;

beforeAll(async () => {
  database = await createTestDatabase();
  gateway = await startGateway({
    db: database.db,
    sql: database.sql,
    ports: [0],
    instanceId: 'gw-guard',
    heartbeatSeconds: 1,
    host: '127.0.0.1',
    helloTimeoutMs: HELLO_TIMEOUT_MS,
    guard: GUARD,
  });
  client = createGatewayClient({ db: database.db, sql: database.sql, openTimeoutMs: 2_000 });
});
afterAll(async () => {
  await client?.close();
  await gateway?.stop();
  await database?.close();
});

const port = () => gateway.ports[0]!;
const hello = (c: { serial: string; secret: string }) =>
  `${JSON.stringify({ type: 'hello', serial: c.serial, secret: c.secret, model: 'IQ2', firmware: '1.0.0', accessVersion: 0 })}\n`;
let nextAddress = 10;
/** A loopback address no other test here used, so its counters start at zero. */
const freshAddress = () => `127.0.0.${nextAddress++}`;

/** Opens a raw connection from `localAddress`, sends `line`, and returns the first answer and whether it closed. */
async function attempt(localAddress: string, line: string) {
  const raw = await rawClient(port(), { localAddress });
  raw.write(line);
  const answer = await raw.next(3_000).catch(() => undefined);
  const closed = await Promise.race([
    raw.closed.then(() => true),
    new Promise((r) => setTimeout(() => r(false), 1_500)),
  ]);
  raw.socket.destroy();
  return { answer, closed };
}

describe('the hello deadline', () => {
  it('closes a connection that says nothing, and one that says anything but a valid hello, in time', async () => {
    const address = freshAddress();
    const silent = await rawClient(port(), { localAddress: address });
    const chatty = await rawClient(port(), { localAddress: address });
    const started = Date.now();
    chatty.write('{"type":"heartbeat"}\n');
    expect(await chatty.next()).toEqual({ type: 'error', code: 'bad_message' });
    const keepTalking = setInterval(() => chatty.write('{"type":"heartbeat"}\n'), 100);
    await Promise.all([silent.closed, chatty.closed]);
    clearInterval(keepTalking);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(HELLO_TIMEOUT_MS - 50);
    expect(took).toBeLessThan(HELLO_TIMEOUT_MS + 2_000);
  });

  it('keeps a connection whose hello arrived in time, past the deadline', async () => {
    const { iq, credentials } = await seedIq(database.db);
    const raw = await rawClient(port(), { localAddress: freshAddress() });
    raw.write(hello(credentials));
    expect(await raw.next()).toMatchObject({ type: 'welcome' });
    const beat = setInterval(() => raw.write('{"type":"heartbeat"}\n'), 200);
    await new Promise((r) => setTimeout(r, HELLO_TIMEOUT_MS * 3));
    clearInterval(beat);
    expect(raw.socket.destroyed).toBe(false);
    expect((await iqRow(database.db, iq.id)).online).toBe(true);
    raw.socket.destroy();
  });
});

describe('failed hellos', () => {
  it('from one address are throttled: even a right hello from it is refused until the window passes; other addresses are served', async () => {
    const { credentials } = await seedIq(database.db);
    const address = freshAddress();
    for (let i = 0; i < GUARD.maxFailedHellos; i++) {
      const wrong = await attempt(address, hello({ serial: `NOPE-${i}`, secret: 'x' }));
      expect(wrong).toEqual({ answer: { type: 'error', code: 'auth_failed' }, closed: true });
    }
    expect(await attempt(address, hello(credentials))).toEqual({
      answer: { type: 'error', code: 'throttled' },
      closed: true,
    });
    const elsewhere = await attempt(freshAddress(), hello(credentials));
    expect(elsewhere.answer).toMatchObject({ type: 'welcome' });
    await new Promise((r) => setTimeout(r, GUARD.windowMs + 100));
    expect((await attempt(address, hello(credentials))).answer).toMatchObject({ type: 'welcome' });
  });

  it('hello deadlines count as failures of their address', async () => {
    const address = freshAddress();
    await Promise.all(
      Array.from(
        { length: GUARD.maxFailedHellos },
        async () => (await rawClient(port(), { localAddress: address })).closed,
      ),
    );
    const { credentials } = await seedIq(database.db);
    expect((await attempt(address, hello(credentials))).answer).toEqual({ type: 'error', code: 'throttled' });
  });

  it('for one serial, from many addresses, are throttled for that serial only', async () => {
    const target = await seedIq(database.db);
    const bystander = await seedIq(database.db);
    for (let i = 0; i < GUARD.maxFailedHellos; i++) {
      const wrong = await attempt(freshAddress(), hello({ ...target.credentials, secret: `guess-${i}` }));
      expect(wrong.answer).toEqual({ type: 'error', code: 'auth_failed' });
    }
    expect(
      (await attempt(freshAddress(), hello({ ...target.credentials, secret: 'guess-more' }))).answer,
    ).toEqual({ type: 'error', code: 'throttled' });
    expect((await attempt(freshAddress(), hello(bystander.credentials))).answer).toMatchObject({
      type: 'welcome',
    });
  });

  it('for a serial never keep out the IQ that holds its secret: a stranger who knows a serial cannot keep an IQ offline', async () => {
    const target = await seedIq(database.db);
    // One address's failed hellos in every window are enough to keep the serial's throttle on.
    const stranger = freshAddress();
    for (let i = 0; i < GUARD.maxFailedHellos; i++) {
      await attempt(stranger, hello({ ...target.credentials, secret: `guess-${i}` }));
    }
    expect(
      (await attempt(freshAddress(), hello({ ...target.credentials, secret: 'guess-more' }))).answer,
    ).toEqual({ type: 'error', code: 'throttled' });
    const iq = await rawClient(port(), { localAddress: freshAddress() });
    iq.write(hello(target.credentials));
    expect(await iq.next()).toMatchObject({ type: 'welcome', subscribed: true });
    await eventually(async () => expect((await iqRow(database.db, target.iq.id)).online).toBe(true));
    iq.socket.destroy();
  });
});

describe('IQs behind one NAT address', () => {
  it('a misconfigured IQ retrying its wrong secret keeps none of its site-mates out; its own retries are throttled', async () => {
    const misconfigured = await seedIq(database.db);
    const mates = await Promise.all([seedIq(database.db), seedIq(database.db), seedIq(database.db)]);
    const building = freshAddress();
    const wrong = hello({ ...misconfigured.credentials, secret: 'an old secret' });
    for (let i = 0; i < GUARD.maxFailedHellos; i++) {
      expect((await attempt(building, wrong)).answer).toEqual({ type: 'error', code: 'auth_failed' });
    }
    // Its further retries are refused (they cost the database nothing) ...
    expect((await attempt(building, wrong)).answer).toEqual({ type: 'error', code: 'throttled' });
    // ... and every honest IQ behind the same router, reconnecting at once, is welcomed meanwhile.
    const answers = await Promise.all(mates.map((mate) => attempt(building, hello(mate.credentials))));
    for (const { answer } of answers) expect(answer).toMatchObject({ type: 'welcome' });
    expect((await attempt(building, wrong)).answer).toEqual({ type: 'error', code: 'throttled' });
  });

  it('counts each serial once against its address: retries do not add up, a scan of serials does', async () => {
    const mate = await seedIq(database.db);
    const building = freshAddress();
    for (let i = 0; i < GUARD.maxFailedHellos - 1; i++) {
      for (let retry = 0; retry < 3; retry++)
        await attempt(building, hello({ serial: `GONE-${i}`, secret: 'x' }));
    }
    expect((await attempt(building, hello(mate.credentials))).answer).toMatchObject({ type: 'welcome' });
    await attempt(building, hello({ serial: 'GONE-last', secret: 'x' }));
    expect((await attempt(building, hello(mate.credentials))).answer).toEqual({
      type: 'error',
      code: 'throttled',
    });
  });
});

describe('connections per address', () => {
  it('are capped: the one over the cap is answered throttled and closed; a freed place is taken again', async () => {
    const address = freshAddress();
    const held = await Promise.all(
      Array.from({ length: GUARD.maxConnectionsPerAddress }, () =>
        rawClient(port(), { localAddress: address }),
      ),
    );
    const over = await rawClient(port(), { localAddress: address });
    expect(await over.next()).toEqual({ type: 'error', code: 'throttled' });
    await over.closed;
    expect(held.every((h) => !h.socket.destroyed)).toBe(true);
    held[0]!.socket.destroy();
    await held[0]!.closed;
    const { credentials } = await seedIq(database.db);
    await eventually(async () => {
      const again = await attempt(address, hello(credentials));
      expect(again.answer).toMatchObject({ type: 'welcome' });
    }, 5_000);
    for (const h of held) h.socket.destroy();
  });
});

describe('a flood', () => {
  it('of silent sockets and bad hellos from other addresses leaves a well-behaved IQ working, and a new IQ connecting', async () => {
    const good = await seedIq(database.db);
    const device = await startSimulatedIq({ ...good.credentials, ports: gateway.ports, reconnect: false });
    const flooders = Array.from({ length: 25 }, () => freshAddress());
    const opened: string[] = [];
    let flooding = true;
    const opener = (async () => {
      while (flooding) {
        opened.push((await client.openLock({ iqId: good.iq.id, lockId: good.lock.id })).outcome);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const started = Date.now();
    let sockets = 0;
    let refused = 0;
    await Promise.all(
      flooders.map(async (address, i) => {
        for (let round = 0; round < 4; round++) {
          const batch = await Promise.all(
            Array.from({ length: 25 }, async (_, j) => {
              sockets++;
              const raw = await rawClient(port(), { localAddress: address });
              if ((i + j) % 2 === 0) raw.write(hello({ serial: `FLOOD-${i}-${j}`, secret: 'nope' }));
              const first = await raw.next(HELLO_TIMEOUT_MS * 4).catch(() => undefined);
              if ((first as { code?: string } | undefined)?.code === 'throttled') refused++;
              await raw.closed;
            }),
          );
          expect(batch).toHaveLength(25);
        }
      }),
    );
    // A new IQ from an address the flood did not use connects while the gateway is still busy with it.
    const newcomer = await seedIq(database.db);
    const late = await startSimulatedIq({ ...newcomer.credentials, ports: gateway.ports, reconnect: false });
    flooding = false;
    await opener;
    console.log(
      `[gateway-guard] flood: ${sockets} sockets from ${flooders.length} addresses in ${Date.now() - started} ms, ` +
        `${refused} refused as throttled; the good IQ's opens: ${opened.length} (${opened.filter((o) => o === 'opened').length} opened)`,
    );
    expect(refused).toBeGreaterThan(0);
    expect(opened.length).toBeGreaterThan(0);
    expect(opened.every((o) => o === 'opened')).toBe(true);
    expect(device.connected).toBe(true);
    expect(late.connected).toBe(true);
    expect(await client.openLock({ iqId: newcomer.iq.id, lockId: newcomer.lock.id })).toEqual({
      outcome: 'opened',
    });
    await Promise.all([device.stop(), late.stop()]);
  });
});
