/**
 * Device protocol fuzzing (issue 7 item 4): seeded random and mutated lines from many sockets
 * against a gateway running as its own process (`gateway/main.ts`), while a well-behaved IQ keeps
 * sending heartbeats and answering opens. FUZZ_LINES raises the count (default 6,000 in CI);
 * FUZZ_SEED replays a run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createGatewayClient } from '../../gateway/client';
import { defaultCommandSecret } from '../../gateway/command-channel';
import { EVENT_KINDS, MAX_LINE_BYTES } from '../../gateway/protocol';
import { freePort } from '../../infra/free-port';
import { type SimulatedIq, startSimulatedIq } from '../../iq-sim/iq';
import { createTestDatabase } from '../support/database';
import { eventually, iqRow, rawClient, seedIq } from './helpers';

const LINES = Number(process.env.FUZZ_LINES ?? 6_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const SOCKETS = 24;

/** mulberry32: small, seedable, good enough to pick cases. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}

type Rng = ReturnType<typeof prng>;
type Message = Record<string, unknown>;

/** Values of every wrong JSON type (and a few right-typed but wrong ones). */
const BAD_VALUES: unknown[] = [
  null,
  0,
  -1,
  1.5,
  2 ** 53 + 1,
  true,
  false,
  '',
  ' ',
  'x'.repeat(300),
  'x'.repeat(5_000),
  [],
  [1, 2],
  {},
  { nested: { deeper: [null] } },
  '00000000-0000-0000-0000-000000000000',
  '\u0000',
  '\ud800',
  '🔒'.repeat(50),
  '__proto__',
  'constructor',
];

/** One valid message of each type the IQ may send; the fuzzer mutates these. */
function templates(lockId: string, creds: { serial: string; secret: string }): Message[] {
  return [
    {
      type: 'hello',
      serial: creds.serial,
      secret: creds.secret,
      model: 'IQ2',
      firmware: '1.0.0',
      accessVersion: 0,
    },
    { type: 'heartbeat' },
    { type: 'open-result', requestId: randomUUID(), ok: true },
    { type: 'open-result', requestId: randomUUID(), ok: false, reason: 'unsubscribed' },
    { type: 'update-status', updateId: randomUUID(), state: 'downloading' },
    { type: 'update-status', updateId: randomUUID(), state: 'failed', error: 'checksum_mismatch' },
    ...EVENT_KINDS.map((kind) => ({ type: 'event', eventId: randomUUID(), lockId, kind })),
    {
      type: 'event',
      eventId: 7,
      lockId,
      kind: 'opened',
      at: new Date().toISOString(),
      credentialId: randomUUID(),
    },
    { type: 'access-ack', version: 0 },
  ];
}

/** Every (template, field, bad value) case, in order: each field of each message gets each wrong type. */
function* fieldMutations(base: Message[]): Generator<Message> {
  for (const message of base) {
    for (const field of [...Object.keys(message), 'extra']) {
      for (const bad of BAD_VALUES) yield { ...message, [field]: bad };
      const without = { ...message };
      delete without[field];
      yield without;
    }
  }
}

/** A random line: the mix of cases of the brief. Returns the text to write (with its newline). */
function randomLine(rng: Rng, base: Message[], otherLockId: string): string {
  const message = { ...rng.pick(base) };
  const json = JSON.stringify(message);
  switch (rng.int(12)) {
    case 0: {
      // Random bytes, including newlines, NULs and invalid UTF-8.
      const bytes = Buffer.alloc(1 + rng.int(300));
      for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
      return `${bytes.toString('latin1')}\n`;
    }
    case 1:
      return `${json.slice(0, rng.int(json.length))}\n`; // truncated
    case 2:
      return `${json}${json}\n`; // duplicated on one line
    case 3:
      return `${json.slice(0, -1)},"type":"${rng.pick(['hello', 'heartbeat', 'reboot', 'event'])}"}\n`; // duplicate key
    case 4: {
      const field = rng.pick(Object.keys(message));
      message[field] = rng.pick(BAD_VALUES);
      return `${JSON.stringify(message)}\n`;
    }
    case 5:
      return `${JSON.stringify(rng.pick(BAD_VALUES))}\n`; // not an object
    case 6:
      return `${'['.repeat(1 + rng.int(20_000))}\n`; // deep nesting, unterminated
    case 7:
      return `${JSON.stringify({ type: rng.pick(['open', 'welcome', 'update', 'subscription', 'error', 'HELLO', '']) })}\n`;
    case 8:
      return `${JSON.stringify({ type: 'event', eventId: randomUUID(), lockId: rng.pick([otherLockId, randomUUID()]), kind: rng.pick(EVENT_KINDS) })}\n`;
    case 9:
      return `${json}\r\n\n  \n`; // CRLF and blank keep-alive lines
    case 10:
      return `${JSON.stringify({ ...message, padding: 'p'.repeat(rng.int(60_000)) })}\n`; // large but within limit
    default:
      return `${json}\n`; // valid (after hello: a real message on the wrong IQ's behalf, or hello again)
  }
}

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let gateway: ChildProcess;
let gatewayLog = '';
let ports: number[];

beforeAll(async () => {
  database = await createTestDatabase();
  ports = [await freePort(), await freePort()];
  gateway = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
    env: {
      ...process.env,
      KS_MODE: 'development',
      DATABASE_URL: database.url,
      PUBLIC_BASE_URL: 'http://fuzz.test',
      TOKEN_SECRET: 'fuzz-secret-fuzz-secret-fuzz-secret-0000',
      GATEWAY_COMMAND_SECRET: defaultCommandSecret(),
      GATEWAY_PORTS: ports.join(','),
      // Every socket here comes from 127.0.0.1: the hello throttle (tested in gateway-guard.test.ts)
      // would turn most mutated lines into a refused hello instead of exercising the parser.
      GATEWAY_FAILED_HELLOS_PER_MINUTE: '1000000',
      TEMPORAL_ADDRESS: inject('devServerAddress'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  gateway.stdout!.on('data', (d) => (gatewayLog += d));
  gateway.stderr!.on('data', (d) => (gatewayLog += d));
  await eventually(() => {
    if (gateway.exitCode !== null) throw new Error(`gateway exited: ${gatewayLog}`);
    if (!gatewayLog.includes('listening on TCP')) throw new Error(`gateway not listening yet: ${gatewayLog}`);
  }, 60_000);
});

afterAll(async () => {
  if (gateway && gateway.exitCode === null) {
    gateway.kill('SIGTERM');
    await once(gateway, 'exit');
  }
  await database?.close();
});

interface FuzzStats {
  lines: number;
  errorsAnswered: number;
  otherAnswers: number;
  closedByGateway: number;
  connections: number;
}

/** One fuzzing socket's life: connect (authenticated or not), write lines until closed, repeat. */
async function fuzzer(
  rng: Rng,
  quota: { left: number },
  stats: FuzzStats,
  base: Message[],
  helloLine: string | undefined,
  otherLockId: string,
  cases: Generator<Message>,
) {
  while (quota.left > 0) {
    const socket: Socket = connect({ host: '127.0.0.1', port: rng.pick(ports) });
    socket.on('error', () => {});
    let closed = false;
    socket.once('close', () => {
      closed = true;
    });
    let buffer = '';
    let lastData = Date.now();
    socket.on('data', (chunk) => {
      lastData = Date.now();
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const answer = JSON.parse(line) as { type: string };
        if (answer.type === 'error') stats.errorsAnswered++;
        else stats.otherAnswers++;
      }
    });
    await once(socket, 'connect');
    stats.connections++;
    if (helloLine && rng.next() < 0.8) socket.write(helloLine);
    while (!closed && quota.left > 0) {
      // A batch of lines, written in random slices so lines straddle writes (interleavings).
      let batch = '';
      const n = 1 + rng.int(8);
      for (let i = 0; i < n && quota.left > 0; i++, quota.left--, stats.lines++) {
        const next = rng.next() < 0.3 ? cases.next() : undefined;
        batch += next && !next.done ? `${JSON.stringify(next.value)}\n` : randomLine(rng, base, otherLockId);
      }
      if (rng.next() < 0.01) {
        batch += `${'x'.repeat(MAX_LINE_BYTES + 1 + rng.int(1000))}\n`; // oversized: answered, then closed
        stats.lines++;
        quota.left--;
      }
      const data = Buffer.from(batch, 'latin1');
      for (let at = 0; at < data.length && !closed; ) {
        const size = 1 + rng.int(Math.min(data.length - at, 4096));
        socket.write(data.subarray(at, at + size));
        at += size;
      }
      await new Promise((r) => setTimeout(r, rng.int(3)));
    }
    if (!closed) {
      // Most leave politely once the answers stopped coming; some vanish mid-stream.
      if (rng.next() < 0.75) {
        const until = Date.now() + 5_000;
        while (!closed && Date.now() < until && Date.now() - lastData < 200)
          await new Promise((r) => setTimeout(r, 50));
        socket.end();
      } else socket.destroy();
    } else stats.closedByGateway++;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('device protocol fuzzing', () => {
  it(`${LINES} random and mutated lines from ${SOCKETS} sockets: the gateway keeps serving a well-behaved IQ`, async () => {
    const good = await seedIq(database.db);
    // One IQ per fuzzing socket: a second hello of the same IQ would (rightly) replace the first connection.
    const abusers = await Promise.all(Array.from({ length: SOCKETS }, () => seedIq(database.db)));
    const client = createGatewayClient({ db: database.db, sql: database.sql, openTimeoutMs: 3_000 });

    // The well-behaved IQ: a simulated device answering opens, plus a raw one sending heartbeats.
    const device: SimulatedIq = await startSimulatedIq({ ...good.credentials, ports, reconnect: false });
    const heartbeatSeed = await seedIq(database.db);
    const heart = await rawClient(ports[1]!);
    heart.write(`${JSON.stringify({ type: 'hello', ...heartbeatSeed.credentials, accessVersion: 0 })}\n`);
    expect(await heart.next()).toMatchObject({ type: 'welcome' });

    const stats: FuzzStats = {
      lines: 0,
      errorsAnswered: 0,
      otherAnswers: 0,
      closedByGateway: 0,
      connections: 0,
    };
    const quota = { left: LINES };
    let done = false;
    let heartbeats = 0;
    let opens = 0;
    const openOutcomes: string[] = [];

    const beat = (async () => {
      while (!done) {
        heart.write(`${JSON.stringify({ type: 'heartbeat' })}\n`);
        heartbeats++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const opener = (async () => {
      while (!done) {
        const outcome = await client.openLock({ iqId: good.iq.id, lockId: good.lock.id });
        openOutcomes.push(outcome.outcome);
        opens++;
        await new Promise((r) => setTimeout(r, 25));
      }
    })();

    const master = prng(SEED);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: SOCKETS }, (_, i) => {
        const rng = prng(master.int(2 ** 31));
        const own = abusers[i]!;
        const base = templates(own.lock.id, own.credentials);
        const helloLine = i % 3 === 0 ? undefined : `${JSON.stringify(base[0])}\n`;
        return fuzzer(rng, quota, stats, base, helloLine, good.lock.id, fieldMutations(base));
      }),
    );
    // One more open after the storm, and the IQs' rows still say online.
    done = true;
    await Promise.all([beat, opener]);
    const last = await client.openLock({ iqId: good.iq.id, lockId: good.lock.id });
    const elapsed = (Date.now() - started) / 1000;

    console.log(
      `[protocol-fuzz] seed ${SEED}: ${stats.lines} lines sent over ${stats.connections} connections in ${elapsed.toFixed(1)} s; ` +
        `${stats.errorsAnswered} error answers, ${stats.otherAnswers} other answers, ${stats.closedByGateway} sockets closed by the gateway; ` +
        `well-behaved IQ: ${heartbeats} heartbeats, ${opens} opens (${openOutcomes.filter((o) => o === 'opened').length} opened); ` +
        `gateway log lines about failed handling: ${(gatewayLog.match(/handling failed/g) ?? []).length}`,
    );

    expect(stats.lines).toBeGreaterThanOrEqual(LINES);
    expect(stats.errorsAnswered).toBeGreaterThan(0);
    expect(last).toEqual({ outcome: 'opened' });
    expect(openOutcomes.length).toBeGreaterThan(0);
    expect(openOutcomes.every((o) => o === 'opened')).toBe(true);
    // Heartbeats never earned an error and the connection stayed up.
    expect(heart.socket.destroyed).toBe(false);
    heart.write(`${JSON.stringify({ type: 'heartbeat' })}\n`);
    await expect(heart.next(300)).rejects.toThrow('no line from the gateway');
    expect(device.connected).toBe(true);
    expect(device.received.some((m) => m.type === 'error')).toBe(false);
    expect((await iqRow(database.db, good.iq.id)).online).toBe(true);
    expect((await iqRow(database.db, heartbeatSeed.iq.id)).online).toBe(true);
    // The process is alive and never hit its last-resort handlers.
    expect(gateway.exitCode).toBeNull();
    expect(gatewayLog).not.toMatch(/uncaught|unhandled rejection/);
    if (/handling failed/.test(gatewayLog)) console.log(`[protocol-fuzz] gateway log:\n${gatewayLog}`);

    heart.socket.destroy();
    await device.stop();
    await client.close();
  });
});
