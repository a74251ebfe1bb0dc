/**
 * The gateways' internal command endpoints (issue 15): a remote opening goes straight to the instance
 * holding the IQ. Only a caller with the shared secret is served; an instance that is gone, an IQ that
 * moved to another instance and an instance that never answers give the device-side answers (offline,
 * timeout), never a failure.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../db/client';
import { gatewayInstances, iqs } from '../../db/schema';
import { createGatewayClient } from '../../gateway/client';
import { defaultCommandSecret } from '../../gateway/command-http';
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
  silent = createServer(() => {}).listen(0, '127.0.0.1');
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
    expect(a.commandUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
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

  it('serves only callers with the shared secret: nothing reaches the IQ otherwise', async () => {
    const { iq, lock, device } = await onlineIq(a);
    const body = JSON.stringify({ iqId: iq.id, lockId: lock.id });
    const post = (headers: Record<string, string>, text = body) =>
      fetch(`${a.commandUrl}/open`, { method: 'POST', headers, body: text });
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: 'Bearer not-the-secret-not-the-secret-000' })).status).toBe(401);
    expect((await post({ authorization: defaultCommandSecret() })).status).toBe(401);
    const bearer = { authorization: `Bearer ${defaultCommandSecret()}` };
    expect((await post(bearer, '{"iqId":"x"}')).status).toBe(400);
    expect((await post(bearer, 'x'.repeat(5_000))).status).toBe(413);
    expect((await fetch(`${a.commandUrl}/open`, { headers: bearer })).status).toBe(404);
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

    const answer = await post(bearer);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ outcome: 'opened' });
    expect(opens(device)).toBe(1);
    await device.stop();
  });

  it('answers offline for an instance that is gone without saying so, and for an IQ that moved', async () => {
    // An instance that crashed: its row and its IQ's row still name it, nothing listens at its address.
    const { iq, lock, device } = await onlineIq(a);
    const closed = createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as { port: number }).port;
    await new Promise((done) => closed.close(done));
    await database.db
      .insert(gatewayInstances)
      .values({ id: 'cmd-dead', commandUrl: `http://127.0.0.1:${port}` });
    const started = Date.now();
    expect(
      await client.openLock({ iqId: iq.id, lockId: lock.id, commandUrl: `http://127.0.0.1:${port}` }),
    ).toEqual({ outcome: 'offline' });
    expect(Date.now() - started).toBeLessThan(2_000);
    // The IQ's row read before it moved names the other instance: that one does not hold it.
    expect(await client.openLock({ iqId: iq.id, lockId: lock.id, commandUrl: b.commandUrl })).toEqual({
      outcome: 'offline',
    });
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
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    expect(await client.openLock({ iqId: iq.id, lockId: lock.id, commandUrl: url })).toEqual({
      outcome: 'timeout',
    });
    await device.stop();
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
