/**
 * The gateways' internal command endpoints (issue 15): a remote opening goes straight to the instance
 * holding the IQ. Only a caller with the shared secret is served; an instance that is gone, an IQ that
 * moved to another instance and an instance that never answers give the device-side answers (offline,
 * timeout), never a failure.
 */
import { once } from 'node:events';
import { connect, createServer, type Server } from 'node:net';
import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../db/client';
import { gatewayInstances, iqs } from '../../db/schema';
import { createGatewayClient } from '../../gateway/client';
import { defaultCommandSecret } from '../../gateway/command-channel';
import { commandProof } from '../../gateway/command-endpoint';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { type SimulatedIq, startSimulatedIq } from '../../iq-sim/iq';
import { createTestDatabase } from '../support/database';
import { eventually, iqRow, seedIq } from './helpers';

let database: Database & { url: string };
let apiDatabase: Database;
let a: RunningGateway;
let b: RunningGateway;
let client: ReturnType<typeof createGatewayClient>;
/** Accepts connections and never answers: a hung instance. */
let silent: Server;
let silentConnections = 0;

beforeAll(async () => {
  database = await createTestDatabase();
  apiDatabase = connectDatabase(database.url, { max: 2 });
  const common = {
    db: database.db,
    sql: database.sql,
    heartbeatSeconds: 1,
    openTimeoutMs: 500,
    host: '127.0.0.1',
  };
  a = await startGateway({ ...common, ports: [0], instanceId: 'cmd-a' });
  b = await startGateway({ ...common, ports: [0], instanceId: 'cmd-b' });
  client = createGatewayClient({ db: apiDatabase.db, sql: apiDatabase.sql, openTimeoutMs: 500 });
  silent = createServer(() => {
    silentConnections++;
  }).listen(0, '127.0.0.1');
  await once(silent, 'listening');
});

afterAll(async () => {
  silent?.close();
  await client?.close();
  await a?.stop();
  await b?.stop();
  await apiDatabase?.close();
  await database?.close();
});

async function onlineIq(gateway: RunningGateway) {
  const seeded = await seedIq(database.db);
  const device = await startSimulatedIq({ ...seeded.credentials, ports: gateway.ports });
  await eventually(async () =>
    expect(await iqRow(database.db, seeded.iq.id)).toMatchObject({
      online: true,
      gatewayInstance: gateway.instanceId,
    }),
  );
  return { ...seeded, device };
}

const opens = (device: SimulatedIq) => device.received.filter((m) => m.type === 'open').length;

describe('gateway command endpoint', () => {
  it('registers each running instance with its loopback address, and forgets it at its stop', async () => {
    const rows = await database.db.select().from(gatewayInstances);
    expect(rows.find((r) => r.id === 'cmd-a')?.commandUrl).toBe(a.commandUrl);
    expect(a.commandUrl).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const c = await startGateway({
      db: database.db,
      sql: database.sql,
      heartbeatSeconds: 1,
      host: '127.0.0.1',
      ports: [0],
      instanceId: 'cmd-c',
    });
    expect((await database.db.select().from(gatewayInstances)).map((r) => r.id)).toContain('cmd-c');
    await c.stop();
    expect((await database.db.select().from(gatewayInstances)).map((r) => r.id)).not.toContain('cmd-c');
  });

  it('serves only callers that prove the shared secret: nothing reaches the IQ otherwise', async () => {
    const { iq, lock, device } = await onlineIq(a);
    const request = (id: number) => `${JSON.stringify({ id, iqId: iq.id, lockId: lock.id })}\n`;
    // What the endpoint says to a hand-written caller, up to its close (or 1.5 s of silence).
    const talk = async (answer: (nonce: string) => string) => {
      const { port } = new URL(a.commandUrl);
      const socket = connect({ host: '127.0.0.1', port: Number(port) });
      socket.setEncoding('utf8');
      let text = '';
      let answered = false;
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (!answered && text.includes('\n')) {
          answered = true;
          socket.write(answer(JSON.parse(text.split('\n')[0]!).nonce));
        }
      });
      const closed = await Promise.race([
        once(socket, 'close').then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 1_500)),
      ]);
      socket.destroy();
      const lines = text
        .split('\n')
        .filter(Boolean)
        .slice(1)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      // A refusal ends the connection (the endpoint's side), whatever the caller does next.
      if (lines.some((l) => 'error' in l)) expect(closed).toBe(true);
      return lines;
    };
    const proof = (nonce: string, secret = defaultCommandSecret()) =>
      `${JSON.stringify({ proof: commandProof(secret, nonce) })}\n`;

    // Requests without a proof, with another secret's proof, with the secret itself, with a proof
    // recorded on another connection: refused, and the connection closed.
    expect(await talk(() => request(1))).toEqual([{ error: 'unauthorized' }]);
    expect(await talk((n) => proof(n, 'another-secret-another-secret-another') + request(1))).toEqual([
      { error: 'unauthorized' },
    ]);
    expect(await talk(() => `${JSON.stringify({ proof: defaultCommandSecret() })}\n${request(1)}`)).toEqual([
      { error: 'unauthorized' },
    ]);
    let recorded = '';
    await talk((n) => {
      recorded = proof(n);
      return '';
    });
    expect(await talk(() => recorded + request(1))).toEqual([{ error: 'unauthorized' }]);
    // Proven, but not the protocol: a malformed request, a line over the limit, text that is not JSON.
    expect(await talk((n) => `${proof(n)}{"id":1,"iqId":"x"}\n${request(2)}`)).toEqual([
      { error: 'bad_request' },
    ]);
    expect(await talk((n) => proof(n) + 'x'.repeat(5_000))).toEqual([{ error: 'too_large' }]);
    expect(await talk((n) => `${proof(n)}not json\n`)).toEqual([{ error: 'bad_request' }]);
    expect(opens(device)).toBe(0);

    // A client with another secret gets the unknown outcome, not an error, and opens nothing.
    const stranger = createGatewayClient({
      db: apiDatabase.db,
      sql: apiDatabase.sql,
      openTimeoutMs: 500,
      commandSecret: 'another-secret-another-secret-another',
    });
    expect(await stranger.openLock({ iqId: iq.id, lockId: lock.id })).toEqual({ outcome: 'timeout' });
    await stranger.close();
    expect(opens(device)).toBe(0);

    // The proof, then requests on the same connection: each answered under its own id.
    expect(await talk((n) => proof(n) + request(7) + request(8))).toEqual(
      expect.arrayContaining([
        { id: 7, outcome: 'opened' },
        { id: 8, outcome: 'opened' },
      ]),
    );
    expect(opens(device)).toBe(2);
    await device.stop();
  });

  it('closes a connection that proves nothing within its deadline', async () => {
    const { port } = new URL(a.commandUrl);
    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    socket.setEncoding('utf8');
    let text = '';
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    const started = Date.now();
    await once(socket, 'close');
    expect(Date.now() - started).toBeGreaterThan(4_000);
    expect(text.split('\n')[1]).toBe('{"error":"unauthorized"}');
  }, 10_000);

  it('answers offline for an instance that is gone without saying so, and for an IQ that moved', async () => {
    // An instance that crashed: its row and its IQ's row still name it, nothing listens at its address.
    const { iq, lock, device } = await onlineIq(a);
    const closed = createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as { port: number }).port;
    await new Promise((done) => closed.close(done));
    await database.db
      .insert(gatewayInstances)
      .values({ id: 'cmd-dead', commandUrl: `tcp://127.0.0.1:${port}` });
    const started = Date.now();
    expect(
      await client.openLock({ iqId: iq.id, lockId: lock.id, commandUrl: `tcp://127.0.0.1:${port}` }),
    ).toEqual({ outcome: 'offline' });
    expect(Date.now() - started).toBeLessThan(2_000);
    // The IQ's row read before it moved names the other instance: that one does not hold it.
    expect(await client.openLock({ iqId: iq.id, lockId: lock.id, commandUrl: b.commandUrl })).toEqual({
      outcome: 'offline',
    });
    // A row in a format this client does not speak (an instance of an older release): nothing sent.
    expect(await client.openLock({ iqId: iq.id, lockId: lock.id, commandUrl: 'http://127.0.0.1:1' })).toEqual(
      {
        outcome: 'offline',
      },
    );
    expect(opens(device)).toBe(0);
    // Its row now: found by the client itself, opened.
    expect(await client.openLock({ iqId: iq.id, lockId: lock.id })).toEqual({ outcome: 'opened' });
    // An instance row that is gone: the IQ's row names no endpoint, offline.
    await database.db.update(iqs).set({ gatewayInstance: 'cmd-unknown' }).where(eq(iqs.id, iq.id));
    expect(await client.openLock({ iqId: iq.id, lockId: lock.id })).toEqual({ outcome: 'offline' });
    await device.stop();
    await database.db.delete(gatewayInstances).where(eq(gatewayInstances.id, 'cmd-dead'));
  });

  it('answers timeout when the instance takes the request and never answers', async () => {
    const { iq, lock, device } = await onlineIq(a);
    const url = `tcp://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const before = silentConnections;
    // Two opens waiting on the one connection: both end unknown when it times out.
    expect(
      await Promise.all([
        client.openLock({ iqId: iq.id, lockId: lock.id, commandUrl: url }),
        client.openLock({ iqId: iq.id, lockId: lock.id, commandUrl: url }),
      ]),
    ).toEqual([{ outcome: 'timeout' }, { outcome: 'timeout' }]);
    expect(silentConnections - before).toBe(1);
    // The stuck connection is dropped: the next open tries a fresh one.
    expect(await client.openLock({ iqId: iq.id, lockId: lock.id, commandUrl: url })).toEqual({
      outcome: 'timeout',
    });
    expect(silentConnections - before).toBe(2);
    expect(opens(device)).toBe(0);
    await device.stop();
  });

  it('answers each open on a shared connection with its own IQ’s answer, in the order the IQs answer', async () => {
    const slow = await seedIq(database.db);
    const slowDevice = await startSimulatedIq({ ...slow.credentials, ports: a.ports, latencyMs: 400 });
    await eventually(async () => expect((await iqRow(database.db, slow.iq.id)).online).toBe(true));
    const fast = await onlineIq(a);
    const order: string[] = [];
    const opened = (name: string, target: { iq: { id: string }; lock: { id: string } }) =>
      client
        .openLock({ iqId: target.iq.id, lockId: target.lock.id, commandUrl: a.commandUrl })
        .then((answer) => {
          order.push(name);
          return answer;
        });
    const [slowAnswer, fastAnswer] = await Promise.all([opened('slow', slow), opened('fast', fast)]);
    expect([slowAnswer, fastAnswer]).toEqual([{ outcome: 'opened' }, { outcome: 'opened' }]);
    expect(order).toEqual(['fast', 'slow']);
    expect(opens(slowDevice)).toBe(1);
    expect(opens(fast.device)).toBe(1);
    await slowDevice.stop();
    await fast.device.stop();
  });

  it('answers every concurrent open by where the caller believes the IQ is, over shared connections', async () => {
    const fleet = [await onlineIq(a), await onlineIq(b), await onlineIq(a)];
    const instances = [a, b];
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            iq: fc.nat({ max: fleet.length - 1 }),
            believed: fc.nat({ max: 1 }),
            delay: fc.nat(5),
          }),
          { minLength: 1, maxLength: 24 },
        ),
        async (calls) => {
          const before = fleet.map((f) => opens(f.device));
          const answers = await Promise.all(
            calls.map(async (call) => {
              await new Promise((r) => setTimeout(r, call.delay));
              const { iq, lock } = fleet[call.iq]!;
              return client.openLock({
                iqId: iq.id,
                lockId: lock.id,
                commandUrl: instances[call.believed]!.commandUrl,
              });
            }),
          );
          const holder = (i: number) => (i === 1 ? 1 : 0);
          for (const [n, call] of calls.entries()) {
            expect(answers[n]).toEqual({ outcome: call.believed === holder(call.iq) ? 'opened' : 'offline' });
          }
          // Each IQ got exactly one open frame per opened answer.
          for (const [i, f] of fleet.entries()) {
            const opened = calls.filter((c) => c.iq === i && c.believed === holder(i)).length;
            expect(opens(f.device) - before[i]!).toBe(opened);
          }
        },
      ),
      { numRuns: 25 },
    );
    for (const f of fleet) await f.device.stop();
  });

  it('gives a request that lost its instance mid-way the unknown outcome, never a failure', async () => {
    const { iq, lock, credentials } = await seedIq(database.db);
    const c = await startGateway({
      db: database.db,
      sql: database.sql,
      heartbeatSeconds: 1,
      openTimeoutMs: 5_000,
      host: '127.0.0.1',
      ports: [0],
      instanceId: 'cmd-d',
    });
    // The IQ answers late: the instance stops while the open waits for it.
    const device = await startSimulatedIq({
      ...credentials,
      ports: c.ports,
      latencyMs: 1_000,
      reconnect: false,
    });
    await eventually(async () => expect((await iqRow(database.db, iq.id)).gatewayInstance).toBe('cmd-d'));
    const answer = client.openLock({ iqId: iq.id, lockId: lock.id, commandUrl: c.commandUrl });
    await device.waitFor((m) => m.type === 'open');
    await c.stop();
    expect(['offline', 'timeout']).toContain((await answer).outcome);
    expect(await client.openLock({ iqId: iq.id, lockId: lock.id, commandUrl: c.commandUrl })).toEqual({
      outcome: 'offline',
    });
    await device.stop();
  });
});
