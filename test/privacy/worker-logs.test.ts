/**
 * The worker process's log (worker/main.ts, its Temporal SDK lines included) holds no secret. The SDK
 * adds each activity's task token to every line an activity's context logs ("Activity failed", and
 * the activities' own log.info): with access to the namespace, a task token completes or fails that
 * activity in the worker's place (RespondActivityTaskCompleted/Failed by token).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startProfileDeletion } from '../../workflows/client/profile-deletion';
import { createTestDatabase } from '../support/database';

const WORKER_MAIN = fileURLToPath(new URL('../../worker/main.ts', import.meta.url));

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let connection: Connection;

beforeAll(async () => {
  database = await createTestDatabase();
  connection = await Connection.connect({ address: inject('devServerAddress') });
});
afterAll(async () => {
  await connection?.close();
  await database?.close();
});

describe('worker/main.ts log lines', () => {
  it('carry no activity task token', async () => {
    const taskQueue = `worker-logs-${randomUUID()}`;
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER_MAIN], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        KS_MODE: 'development',
        DATABASE_URL: database.url,
        PUBLIC_BASE_URL: 'http://ks.test',
        TOKEN_SECRET: 'worker-logs-secret-that-is-long-enough-0123456789',
        TEMPORAL_ADDRESS: inject('devServerAddress'),
        TEMPORAL_TASK_QUEUE: taskQueue,
        WORKFLOW_BUNDLE: inject('workflowBundlePath'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    try {
      const waitFor = async (text: string) => {
        const deadline = Date.now() + 60_000;
        while (!output.includes(text)) {
          if (Date.now() > deadline) throw new Error(`no "${text}" in: ${output}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await waitFor('polling task queue');
      // A request that does not exist: its first activity fails, which the SDK logs as a warning.
      const client = new Client({ connection });
      await startProfileDeletion(client, taskQueue, randomUUID(), { role: 'support' });
      await waitFor('Activity failed');
      const line = output.split('\n').find((l) => l.includes('Activity failed'))!;
      expect(line).toContain('openDeletionRequest');
      expect(output).not.toMatch(/taskToken/i);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
