import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../api/app';
import { freePort } from '../../infra/free-port';
import { createHttpMetrics, type HttpMetrics } from '../../observability/http-metrics';
import { serveMetrics } from '../../observability/metrics-server';
import { productionApp } from '../support/production-app';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * Operability of the API: one structured log line per request (request id, route pattern, status,
 * duration; nothing about the caller), Prometheus metrics by route and status, and readiness apart
 * from liveness.
 */
let sys: TestSystem;
let lines: Array<Record<string, unknown>>;
let metrics: HttpMetrics;
let app: App;
let deadTemporal: Connection;

/** The app of the test system, logging into `lines` and counting into `metrics`. */
function appWith(temporal: Client) {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return productionApp(sys, { temporal, logger: pino({ level: 'info' }, stream), metrics });
}

beforeAll(async () => {
  sys = await startTestSystem({});
  lines = [];
  metrics = createHttpMetrics();
  app = appWith(sys.temporal);
  // Nothing listens there: Temporal is "down" for this client.
  // No retries: nothing of it is left running when it is closed.
  deadTemporal = Connection.lazy({
    address: `127.0.0.1:${await freePort()}`,
    connectTimeout: '500ms',
    interceptors: [],
  });
});

afterAll(async () => {
  await deadTemporal?.close();
  await sys?.close();
});

const lastLine = () => lines.at(-1)!;

describe('request log', () => {
  it('writes one JSON line per request: request id, method, route pattern, status, duration', async () => {
    const siteId = randomUUID();
    const before = lines.length;
    const res = await app.request(`/sites/${siteId}/people?email=someone@example.com`);
    expect(res.status).toBe(401);
    expect(lines.length).toBe(before + 1);
    const line = lastLine();
    expect(line).toMatchObject({
      level: 30,
      msg: 'request',
      method: 'GET',
      route: '/sites/:siteId/people',
      status: 401,
    });
    expect(line.reqId).toBe(res.headers.get('x-request-id'));
    expect(line.durationMs).toBeTypeOf('number');
    // The pattern, never the path: no id, no query string, no email.
    const text = JSON.stringify(line);
    expect(text).not.toContain(siteId);
    expect(text).not.toContain('someone@example.com');
    expect(text).not.toContain('?');
  });

  it('keeps a request id the caller sends, and makes one up otherwise', async () => {
    const res = await app.request('/health/live', { headers: { 'x-request-id': 'trace-123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    expect(lastLine().reqId).toBe('trace-123');
    const other = await app.request('/health/live');
    expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('logs no personal data of a sign-in, whatever the body held', async () => {
    const email = `${randomUUID()}@example.com`;
    const res = await app.request('/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'wrong-password-123' }),
    });
    expect(res.status).toBe(401);
    const text = JSON.stringify(lastLine());
    expect(lastLine()).toMatchObject({ route: '/auth/login', status: 401 });
    expect(text).not.toContain(email);
    expect(text).not.toContain('wrong-password-123');
  });

  it('labels a request that matched no route as unmatched, not by its path', async () => {
    const res = await app.request(`/no-such-thing/${randomUUID()}`);
    expect(res.status).toBe(404);
    expect(lastLine()).toMatchObject({ route: '(unmatched)', status: 404 });
  });
});

describe('metrics', () => {
  it('counts requests by route pattern and status, with their latency', async () => {
    const siteId = randomUUID();
    for (let i = 0; i < 3; i++) await app.request(`/sites/${siteId}`);
    const text = await metrics.registry.metrics();
    const counted = /http_requests_total\{method="GET",route="\/sites\/:siteId",status="401"\} (\d+)/.exec(
      text,
    );
    expect(Number(counted?.[1])).toBeGreaterThanOrEqual(3);
    expect(text).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="\/sites\/:siteId",status="401"\} \d+/,
    );
    expect(text).not.toContain(siteId);
  });

  it('serves them in the Prometheus text format on a port of their own', async () => {
    const server = await serveMetrics({ registry: metrics.registry, port: 0, host: '127.0.0.1' });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await res.text()).toContain('# TYPE http_requests_total counter');
      // Health is the API's own business: this listener has none without a readiness check.
      expect((await fetch(`http://127.0.0.1:${server.port}/health/ready`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('is not on the API: /metrics there needs a token like any other path', async () => {
    expect((await app.request('/metrics')).status).toBe(404);
  });
});

describe('readiness and liveness', () => {
  it('GET /health and /health/ready answer 200 while PostgreSQL and Temporal are reachable', async () => {
    for (const path of ['/health', '/health/ready']) {
      const res = await app.request(path);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok', database: true, temporal: true });
    }
  });

  it('with Temporal unreachable: not ready (503), still alive (200)', async () => {
    const degraded = appWith(new Client({ connection: deadTemporal }));
    for (const path of ['/health', '/health/ready']) {
      const res = await degraded.request(path);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'degraded', database: true, temporal: false });
    }
    const live = await degraded.request('/health/live');
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'ok' });
  });

  it('documents all three in the OpenAPI document', async () => {
    const doc = (await (await app.request('/openapi.json')).json()) as { paths: Record<string, unknown> };
    for (const path of ['/health', '/health/ready', '/health/live']) expect(doc.paths).toHaveProperty([path]);
  });
});
