import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { createGatewayClient } from '../../gateway/client';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { startSimulatedIq } from '../../iq-sim/iq';
import { type MetricsServer, serveMetrics } from '../../observability/metrics-server';
import { createTestDatabase } from '../support/database';
import { eventually, rawClient, seedIq } from './helpers';

/** The gateway's Prometheus metrics: connected IQs, bus commands by kind, protocol messages by type. */
let database: Database & { url: string };
let gateway: RunningGateway;
let registry: Registry;
let server: MetricsServer;
let client: ReturnType<typeof createGatewayClient>;
let dbUp = true;

beforeAll(async () => {
  database = await createTestDatabase();
  registry = new Registry();
  gateway = await startGateway({
    db: database.db,
    sql: database.sql,
    ports: [0],
    instanceId: 'gw-metrics',
    heartbeatSeconds: 1,
    openTimeoutMs: 1_000,
    host: '127.0.0.1',
    metrics: registry,
  });
  server = await serveMetrics({ registry, port: 0, host: '127.0.0.1', ready: async () => dbUp });
  client = createGatewayClient({ db: database.db, sql: database.sql, openTimeoutMs: 1_000 });
});

afterAll(async () => {
  await client?.close();
  await server?.close();
  await gateway?.stop();
  await database?.close();
});

async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
  expect(res.status).toBe(200);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith('gateway_')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

describe('gateway metrics', () => {
  it('counts connected IQs, the messages each way, and the commands of the bus', async () => {
    expect((await scrape()).get('gateway_connected_iqs')).toBe(0);
    const { iq, lock, credentials } = await seedIq(database.db);
    const device = await startSimulatedIq({ ...credentials, ports: gateway.ports, latencyMs: 0 });
    try {
      let samples = await scrape();
      expect(samples.get('gateway_connected_iqs')).toBe(1);
      expect(samples.get('gateway_messages_total{direction="in",type="hello"}')).toBe(1);
      expect(samples.get('gateway_messages_total{direction="out",type="welcome"}')).toBe(1);

      const outcome = await client.openLock({ iqId: iq.id, lockId: lock.id });
      expect(outcome).toEqual({ outcome: 'opened' });
      samples = await scrape();
      expect(samples.get('gateway_commands_total{kind="open"}')).toBe(1);
      expect(samples.get('gateway_messages_total{direction="out",type="open"}')).toBe(1);
      expect(samples.get('gateway_messages_total{direction="in",type="open-result"}')).toBe(1);
    } finally {
      await device.stop();
    }
    await eventually(async () => expect((await scrape()).get('gateway_connected_iqs')).toBe(0));
  });

  it('labels a message that does not parse as invalid, whatever it claims to be', async () => {
    const raw = await rawClient(gateway.ports[0]!);
    raw.write('{"type":"made-up-type-123"}\n');
    expect(await raw.next()).toEqual({ type: 'error', code: 'bad_message' });
    raw.socket.destroy();
    const samples = await scrape();
    expect(samples.get('gateway_messages_total{direction="in",type="invalid"}')).toBeGreaterThanOrEqual(1);
    expect([...samples.keys()].some((key) => key.includes('made-up-type-123'))).toBe(false);
  });

  it('tells liveness from readiness on the same listener', async () => {
    const get = (path: string) => fetch(`http://127.0.0.1:${server.port}${path}`);
    expect((await get('/health/live')).status).toBe(200);
    expect((await get('/health/ready')).status).toBe(200);
    dbUp = false;
    try {
      expect((await get('/health/ready')).status).toBe(503);
      expect((await get('/health/live')).status).toBe(200);
    } finally {
      dbUp = true;
    }
  });
});
