/**
 * A device gateway that cannot start exits non-zero within seconds, leaving no row in
 * gateway_instances: a port already taken, or a database that does not answer. It used to log the
 * failure through its uncaught-exception handler and stay up (its LISTEN connection kept it alive,
 * its row named a gateway that would never answer), or exit 0.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { gatewayInstances } from '../../db/schema';
import { freePort } from '../../infra/free-port';
import { createTestDatabase } from '../support/database';

const GATEWAY_MAIN = fileURLToPath(new URL('../../gateway/main.ts', import.meta.url));

let database: Database & { url: string };
let taken: Server;
let takenPort: number;

beforeAll(async () => {
  database = await createTestDatabase();
  taken = createServer();
  await new Promise<void>((listening) => taken.listen(0, '0.0.0.0', listening));
  takenPort = (taken.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((closed) => taken.close(closed));
  await database.close();
});

/** Runs the gateway entry point; answers its exit code (null: still running after `withinMs`, then killed). */
async function runGateway(env: Record<string, string>, withinMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', GATEWAY_MAIN], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      KS_MODE: 'development',
      PUBLIC_BASE_URL: 'http://ks.test',
      TOKEN_SECRET: 'gateway-start-failure-secret-long-enough-0123456789',
      GATEWAY_COMMAND_SECRET: 'gateway-start-failure-command-secret-0123456789',
      // Lazy and unused before the gateway is up.
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      LOG_LEVEL: 'error',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((done) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done(null);
    }, withinMs);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      done(exitCode);
    });
  });
  return { code, output };
}

describe('gateway/main.ts when it cannot start', () => {
  it('exits non-zero when a gateway port is taken, and leaves no instance row', async () => {
    const { code, output } = await runGateway(
      { DATABASE_URL: database.url, GATEWAY_PORTS: `${await freePort()},${takenPort}` },
      20_000,
    );
    expect(code, output).not.toBeNull();
    expect(code, output).not.toBe(0);
    expect(output).toMatch(/gateway failed to start/);
    expect(output).toMatch(/EADDRINUSE/);
    expect(await database.db.select().from(gatewayInstances)).toEqual([]);
  });

  it('exits non-zero when the database does not answer', async () => {
    const closed = await freePort();
    const { code, output } = await runGateway(
      { DATABASE_URL: `postgres://ks:pw@127.0.0.1:${closed}/ks`, GATEWAY_PORTS: String(await freePort()) },
      20_000,
    );
    expect(code, output).not.toBeNull();
    expect(code, output).not.toBe(0);
    // The URL's password stays out of the log.
    expect(output).not.toContain('ks:pw@');
  });
});
