import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { processesLeftUsing } from '../support/process-group';

/**
 * Embedded PostgreSQL belongs to the process that started it: Ctrl-C at the terminal (SIGINT to the
 * whole process group) reaches the starter and not the server, which keeps serving until the starter
 * stops it (the launcher's children drain their work on it first); and a starter killed outright
 * leaves no server behind.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const STARTER = join(ROOT, 'test/infra/fixtures/postgres-starter.ts');
const dirs: string[] = [];

async function startStarter(): Promise<{ child: ChildProcess; dataDir: string; output: () => string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ks-pg-starter-'));
  dirs.push(dir);
  // PostgreSQL runs as its own user when the tests run as root.
  await chmod(dir, 0o755);
  const dataDir = join(dir, 'data');
  // Its own process group, as a terminal's foreground job.
  const child = spawn(process.execPath, ['--import', 'tsx', STARTER, dataDir], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const add = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  await new Promise<void>((ready, failed) => {
    const timer = setTimeout(() => failed(new Error(`never ready: ${output}`)), 120_000);
    child.stdout?.on('data', () => {
      if (output.includes('ready')) {
        clearTimeout(timer);
        ready();
      }
    });
    child.once('exit', (code) => failed(new Error(`exited (${code}): ${output}`)));
  });
  return { child, dataDir, output: () => output };
}

const exitOf = (child: ChildProcess) =>
  new Promise<number | null>((done) =>
    child.exitCode !== null ? done(child.exitCode) : child.once('exit', (code) => done(code)),
  );

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('embedded PostgreSQL and the process that started it', { timeout: 180_000 }, () => {
  it('Ctrl-C reaches the starter, not the server: it serves until the starter stops it', async () => {
    const { child, dataDir, output } = await startStarter();
    process.kill(-child.pid!, 'SIGINT');
    expect(await exitOf(child)).toBe(0);
    expect(output()).toContain('answer 42');
    expect(output()).toContain('stopped');
    expect(await processesLeftUsing(dataDir)).toBe('');
  });

  it('a starter killed outright leaves no server behind', async () => {
    const { child, dataDir } = await startStarter();
    expect(await processesLeftUsing(dataDir, 0)).not.toBe('');
    process.kill(child.pid!, 'SIGKILL');
    await exitOf(child);
    expect(await processesLeftUsing(dataDir, 15_000)).toBe('');
  });
});
