/**
 * How instances find each other across processes (issue 15): two device gateways run as real
 * processes (gateway/main.ts, configured by environment like production), two APIs each with their
 * own database pool and gateway client. An IQ on the second gateway opens from either API, through
 * that gateway's command endpoint; once that gateway is killed (no goodbye: its rows still name it),
 * an open answers `iq_offline` from either API, never a 5xx, and the IQ opens again once it is back
 * on the other gateway.
 */
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../api/app';
import { connectDatabase, type Database } from '../../db/client';
import { gatewayInstances, iqs } from '../../db/schema';
import { createMailer } from '../../emails/mailer';
import { createGatewayClient } from '../../gateway/client';
import { freePort } from '../../infra/free-port';
import { type SimulatedIq, startSimulatedIq } from '../../iq-sim/iq';
import { createNotificationRelay } from '../../outbox/notification-relay';
import { eventually } from '../gateway/helpers';
import { createSite, giveAccess, voucher } from '../support/fixtures';
import { startTestSystem, TEST_BASE_URL, TEST_TOKEN_SECRET, type TestSystem } from '../support/system';
import { GatewayProcess } from '../support/worker-process';

let sys: TestSystem;
let secondDatabase: Database;
let secondGateway: ReturnType<typeof createGatewayClient>;
let secondApi: ReturnType<typeof createApp>;
const gateways: Array<{ process: GatewayProcess; port: number }> = [];
const devices: SimulatedIq[] = [];

beforeAll(async () => {
  sys = await startTestSystem({});
  for (const label of ['gateway-1', 'gateway-2']) {
    const port = await freePort();
    const gateway = new GatewayProcess({
      databaseUrl: sys.databaseUrl,
      temporalAddress: inject('devServerAddress'),
      taskQueue: sys.taskQueue,
      ports: [port],
      label,
    });
    await gateway.start();
    gateways.push({ process: gateway, port });
  }
  // The second API: its own pool and gateway client, as another API process has.
  secondDatabase = connectDatabase(sys.databaseUrl, { max: 4 });
  secondGateway = createGatewayClient({ db: secondDatabase.db, sql: secondDatabase.sql });
  secondApi = createApp({
    db: secondDatabase.db,
    temporal: sys.temporal,
    mailer: createMailer({ db: secondDatabase.db, from: 'KS Cloud <test@ks.test>' }),
    gateway: secondGateway,
    notifications: createNotificationRelay({
      db: secondDatabase.db,
      temporal: sys.temporal,
      taskQueue: sys.taskQueue,
    }),
    env: {
      KS_MODE: 'development',
      PUBLIC_BASE_URL: TEST_BASE_URL,
      TOKEN_SECRET: TEST_TOKEN_SECRET,
      TEMPORAL_TASK_QUEUE: sys.taskQueue,
    },
    now: () => new Date(),
  });
}, 120_000);

afterAll(async () => {
  for (const device of devices) await device.stop();
  for (const gateway of gateways) await gateway.process.kill();
  await secondGateway?.close();
  await secondDatabase?.close();
  await sys?.close();
});

describe('remote opening across gateway and API processes', () => {
  it('opens an IQ held by the second gateway from either API; a killed gateway answers iq_offline', async () => {
    const owner = await sys.signIn();
    const siteId = (await createSite(sys, owner.id)).id;
    await giveAccess(sys, siteId, owner.id);
    const v = await voucher(sys, { usersLimit: 5, iqsLimit: 2 });
    const call = async (api: 'first' | 'second', method: string, path: string, body?: unknown) => {
      const init = {
        method,
        headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      };
      const res =
        api === 'first'
          ? await sys.request(method, path, { token: owner.token, ...(body === undefined ? {} : { body }) })
          : await secondApi.request(path, init);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(
      (await call('first', 'POST', `/sites/${siteId}/subscription/redemptions`, { code: v.code })).status,
    ).toBe(200);
    const serial = `IQ-GP-${Date.now()}`;
    const iq = await call('first', 'POST', `/sites/${siteId}/iqs`, { serial, model: 'IQ2' });
    expect(iq.status).toBe(201);
    const iqId = iq.body.id as string;
    const lock = await call('second', 'POST', `/sites/${siteId}/locks`, { iqId, name: 'Front door' });
    expect(lock.status).toBe(201);
    const lockId = lock.body.id as string;
    const [first, second] = gateways as [(typeof gateways)[0], (typeof gateways)[0]];
    const connect = async (port: number) => {
      const device = await startSimulatedIq({
        serial,
        secret: iq.body.deviceSecret as string,
        model: 'IQ2',
        firmware: '1.0.0',
        ports: [port],
        // Stays away once its gateway is gone: the open then meets the gone instance, not a new one.
        reconnect: false,
      });
      devices.push(device);
      return device;
    };
    let device = await connect(second.port);
    const holder = async () =>
      (
        await sys.db
          .select({ instance: iqs.gatewayInstance, online: iqs.online })
          .from(iqs)
          .where(eq(iqs.id, iqId))
      )[0];
    await eventually(async () =>
      expect(await holder()).toEqual({ instance: second.process.instanceId, online: true }),
    );
    const opens = () => devices.reduce((n, d) => n + d.received.filter((m) => m.type === 'open').length, 0);

    for (const api of ['first', 'second'] as const) {
      expect(await call(api, 'POST', `/sites/${siteId}/locks/${lockId}/open`)).toEqual({
        status: 200,
        body: { result: 'opened' },
      });
    }
    expect(opens()).toBe(2);

    // Killed: no goodbye, so its instance row and the IQ's row still name it until a sweep.
    const killed = second.process.instanceId!;
    await second.process.kill();
    const [row] = await sys.db
      .select()
      .from(gatewayInstances)
      .where(and(eq(gatewayInstances.id, killed)));
    expect(row).toBeDefined();
    expect(await holder()).toEqual({ instance: killed, online: true });
    for (const api of ['first', 'second'] as const) {
      // The IQ row still says online at the killed instance: its endpoint refuses, so offline.
      const answer = await call(api, 'POST', `/sites/${siteId}/locks/${lockId}/open`);
      expect(answer).toMatchObject({ status: 409, body: { code: 'iq_offline' } });
    }
    expect(opens()).toBe(2);

    // The IQ connects to the other gateway, which now holds it: both APIs reach it there.
    await device.stop();
    device = await connect(first.port);
    await eventually(
      async () => expect(await holder()).toEqual({ instance: first.process.instanceId, online: true }),
      30_000,
    );
    for (const api of ['first', 'second'] as const) {
      expect((await call(api, 'POST', `/sites/${siteId}/locks/${lockId}/open`)).status).toBe(200);
    }
    expect(opens()).toBe(4);
  }, 120_000);
});
