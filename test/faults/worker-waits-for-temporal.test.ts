/**
 * A worker started while Temporal is away waits for it, retrying with a capped backoff, instead of
 * exiting (it exited 1 within 2.5 s, and start:cluster's launcher stops everything after five quick
 * deaths in a row); a stop signal ends the wait cleanly.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../infra/free-port';
import { connectWhenReachable } from '../../worker/connect';

const WORKER_MAIN = fileURLToPath(new URL('../../worker/main.ts', import.meta.url));

describe('connectWhenReachable', () => {
  it('retries with a doubling delay, capped, until the connection succeeds', async () => {
    let calls = 0;
    const failures: Array<{ attempt: number; retryInMs: number }> = [];
    const connection = await connectWhenReachable(
      async () => {
        calls++;
        if (calls < 5) throw new Error('ConnectionRefused');
        return 'connected';
      },
      {
        signal: new AbortController().signal,
        onFailure: ({ attempt, retryInMs }) => failures.push({ attempt, retryInMs }),
        firstDelayMs: 1,
        maxDelayMs: 4,
      },
    );
    expect(connection).toBe('connected');
    expect(failures).toEqual([
      { attempt: 1, retryInMs: 1 },
      { attempt: 2, retryInMs: 2 },
      { attempt: 3, retryInMs: 4 },
      { attempt: 4, retryInMs: 4 },
    ]);
  });

  it('gives up, answering undefined, once aborted while waiting', async () => {
    const stop = new AbortController();
    const waiting = connectWhenReachable(() => Promise.reject(new Error('ConnectionRefused')), {
      signal: stop.signal,
      onFailure: () => {},
      firstDelayMs: 60_000,
    });
    setTimeout(() => stop.abort(), 10);
    expect(await waiting).toBeUndefined();
  });
});

describe('worker/main.ts with Temporal away', () => {
  it('keeps waiting, logging each failure without secrets, and exits 0 on SIGTERM', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER_MAIN], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        KS_MODE: 'development',
        // Connected lazily: never reached while the worker waits for Temporal.
        DATABASE_URL: 'postgres://ks:db-password@127.0.0.1:1/ks',
        PUBLIC_BASE_URL: 'http://ks.test',
        TOKEN_SECRET: 'worker-waits-secret-that-is-long-enough-0123456789',
        TEMPORAL_ADDRESS: address,
        TEMPORAL_API_KEY: 'temporal-api-key-secret',
        WORKFLOW_BUNDLE: '/nonexistent-bundle.js',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((done) =>
      child.once('exit', (code) => {
        exitCode = code;
        done(code);
      }),
    );
    try {
      // Three failures: well past the 2.5 s in which it used to exit.
      const deadline = Date.now() + 30_000;
      while ((output.match(/does not answer/g) ?? []).length < 3 && exitCode === undefined) {
        if (Date.now() > deadline) throw new Error(`no retries: ${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(exitCode, output).toBeUndefined();
      expect(output).toContain(address);
      expect(output).not.toContain('temporal-api-key-secret');
      expect(output).not.toContain('db-password');

      child.kill('SIGTERM');
      const code = await Promise.race([
        exited,
        new Promise((r) => setTimeout(() => r('still running'), 5_000)),
      ]);
      expect(code, output).toBe(0);
    } finally {
      if (exitCode === undefined) child.kill('SIGKILL');
    }
  });
});
