/**
 * Slow and greedy clients on the API's HTTP server (api/http-server.ts), over real sockets: a client
 * that opens connections and drips its headers or its body holds them only so long, and one address
 * holds only so many, so it cannot take every socket (file descriptor) of the process. The API trusts
 * 127.0.0.1 as a proxy (the harness); the clients here connect from other loopback addresses.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpMetrics } from '../../observability/http-metrics';
import { type AccountsSecurity, startAccountsSecurity } from './accounts-harness';

const CAP = 5;
const metrics = createHttpMetrics();
let t: AccountsSecurity;
const sockets: Socket[] = [];

beforeAll(async () => {
  t = await startAccountsSecurity({
    httpLimits: { maxConnectionsPerAddress: CAP, headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 },
    metrics,
  });
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await t?.close();
});

/** A connected socket from `from`, with what the server sent it and whether the server closed it. */
async function open(from: string) {
  const socket = connect({ host: '127.0.0.1', port: t.port, localAddress: from });
  sockets.push(socket);
  let received = '';
  socket.on('data', (chunk) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((done) => socket.once('close', () => done()));
  await new Promise<void>((done) => socket.once('connect', () => done()));
  return { socket, closed, received: () => received };
}

/** The status line's code of a whole request sent from `from`, or 'closed' when none came. */
async function statusFrom(from: string, path = '/health/live'): Promise<number | 'closed'> {
  const c = await open(from);
  c.socket.write(`GET ${path} HTTP/1.1\r\nHost: ks.test\r\nConnection: close\r\n\r\n`);
  await c.closed;
  const match = /^HTTP\/1\.1 (\d{3})/.exec(c.received());
  return match ? Number(match[1]) : 'closed';
}

/** Sends `text` a byte at a time, a byte every 200 ms, until the socket closes. */
function drip(socket: Socket, text: string) {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return clearInterval(timer);
    socket.write(text[i++]!);
  }, 200);
  socket.once('close', () => clearInterval(timer));
}

describe('connections of one address', () => {
  it('are capped: past the cap a connection is answered 429 with Retry-After, unread, and closed; other addresses and the trusted proxy are answered; a freed place is taken again', async () => {
    const holders = [];
    for (let i = 0; i < CAP; i++) {
      const held = await open('127.0.0.2');
      held.socket.write('GET /health/live HTTP/1.1\r\n');
      holders.push(held);
    }
    // Each of a burst past the cap, at once.
    const past = await Promise.all(Array.from({ length: 3 }, () => statusFrom('127.0.0.2')));
    expect(past).toEqual([429, 429, 429]);
    // Answered before anything of it was read: what it sent never reached the app.
    const unread = await open('127.0.0.2');
    unread.socket.write(
      `POST /auth/login HTTP/1.1\r\nHost: ks.test\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
    );
    await unread.closed;
    expect(unread.received()).toMatch(
      /^HTTP\/1\.1 429 [\s\S]*\r\nretry-after: 1\r\n[\s\S]*"code":"too_many_attempts"/i,
    );
    expect(unread.received()).not.toContain('validation_failed');
    expect(await statusFrom('127.0.0.3')).toBe(200);
    expect(await statusFrom('127.0.0.1')).toBe(200);

    holders[0]!.socket.destroy();
    await holders[0]!.closed;
    // The server hears of the close after the client: asked again until it has.
    let status: number | 'closed' = 429;
    while (status === 429) status = await statusFrom('127.0.0.2');
    expect(status).toBe(200);
    for (const held of holders) held.socket.destroy();
  });
});

describe('a client slower than any real one', () => {
  it('dripping its headers, or sending nothing, is answered 408 and closed', async () => {
    const dripping = await open('127.0.0.4');
    drip(
      dripping.socket,
      'GET /health/live HTTP/1.1\r\nHost: ks.test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n',
    );
    const silent = await open('127.0.0.4');
    await Promise.all([dripping.closed, silent.closed]);
    expect(dripping.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(dripping.socket.bytesWritten).toBeLessThan(60);
  });

  it('dripping its body is answered 408 and closed before the body ends, and counted as a client error, not as a service away (503)', async () => {
    const body = JSON.stringify({ email: 'slow@ks.test', password: 'x'.repeat(60) });
    const dripping = await open('127.0.0.5');
    dripping.socket.write(
      `POST /auth/login HTTP/1.1\r\nHost: ks.test\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    drip(dripping.socket, body);
    await dripping.closed;
    expect(dripping.received()).toMatch(/^HTTP\/1\.1 408 /);
    // The route's handler, left without its body, finishes after the socket closed.
    const login = async () =>
      ((await metrics.requests.get()).values ?? []).filter((v) => v.labels.route === '/auth/login');
    while ((await login()).length === 0) await new Promise((r) => setTimeout(r, 20));
    expect((await login()).map((v) => v.labels.status)).toEqual(['400']);
  });
});
