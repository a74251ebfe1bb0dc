/**
 * One client's burst of requests with a valid token (API_MAX_REQUESTS_IN_FLIGHT_PER_ADDRESS): Node
 * hands the app every request pipelined on a connection at once, so one write of thousands of
 * requests queued them all for the database ahead of everyone else's. The API trusts 127.0.0.1 as a
 * proxy (the harness): requests through it count for the client its X-Forwarded-For names.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccountsSecurity, startAccountsSecurity } from './accounts-harness';

const CAP = 4;
let t: AccountsSecurity;

beforeAll(async () => {
  t = await startAccountsSecurity({ maxRequestsInFlightPerAddress: CAP });
});
afterAll(async () => {
  await t?.close();
});

/** Sends `requests` pipelined in one write from `from`; the answers' statuses, in order, and their text. */
async function pipelined(from: string, requests: string[]): Promise<{ statuses: number[]; text: string }> {
  const socket = connect({ host: '127.0.0.1', port: t.port, localAddress: from });
  let received = '';
  const statuses = () => [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  await new Promise<void>((done, fail) => {
    socket.on('error', fail);
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if (statuses().length === requests.length) done();
    });
    socket.once('close', () => done());
    socket.once('connect', () => socket.write(requests.join('')));
  });
  socket.destroy();
  return { statuses: statuses(), text: received };
}

const getMe = (token: string, client?: string) =>
  `GET /me HTTP/1.1\r\nHost: ks.test\r\nAuthorization: Bearer ${token}\r\n${client ? `X-Forwarded-For: ${client}\r\n` : ''}\r\n`;

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

describe('requests of one client at once', () => {
  it('past the cap are answered 429 with Retry-After; the ones within it are served', async () => {
    const { token } = await t.sys.signIn();
    const { statuses, text } = await pipelined(
      '127.0.0.2',
      Array.from({ length: 3 * CAP }, () => getMe(token)),
    );
    expect(statuses).toHaveLength(3 * CAP);
    expect(count(statuses, 200)).toBe(CAP);
    expect(count(statuses, 429)).toBe(2 * CAP);
    expect(text.match(/^retry-after: 1\r$/gim)).toHaveLength(2 * CAP);
    expect(text).toContain('"code":"too_many_attempts"');
    // Once answered, the client is served again.
    expect((await pipelined('127.0.0.2', [getMe(token)])).statuses).toEqual([200]);
  });

  it("through the trusted proxy count for the client it names: another client's request in the same burst is served", async () => {
    const greedy = await t.sys.signIn();
    const other = await t.sys.signIn();
    const burst = Array.from({ length: 3 * CAP }, () => getMe(greedy.token, '10.1.1.1'));
    const { statuses } = await pipelined('127.0.0.1', [...burst, getMe(other.token, '10.2.2.2')]);
    expect(count(statuses.slice(0, -1), 429)).toBe(2 * CAP);
    expect(statuses.at(-1)).toBe(200);
  });
});
