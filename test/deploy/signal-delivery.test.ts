import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * A stop reaches every long-running process's own handler, however busy its event loop is at that
 * moment. Each command as written (package.json's scripts, docker-compose.yml's services, the
 * Dockerfile's CMD) runs a stand-in entry point (fixtures/busy-when-signalled.ts) that is busy for a
 * second when the signal comes: Ctrl-C's SIGINT to the whole process group, and a container stop's
 * SIGTERM to the top process only. The `tsx` command fails this: it runs the app as its child and
 * SIGKILLs it when the child has not acknowledged the signal within 60 ms, so the worker's drain or
 * the launcher's stop of its children never runs (test/deploy/npm-start once lost its "stopping" line
 * that way). `node --import tsx` runs the app as the process itself.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const STAND_IN = join(ROOT, 'test/deploy/fixtures/busy-when-signalled.ts');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
const compose = parse(read('docker-compose.yml')) as { services: Record<string, { command?: string[] }> };
const dockerCmd = /^CMD\s+(\[.*\])\s*$/m.exec(read('Dockerfile'))?.[1];

const LONG_RUNNING_SCRIPTS = ['start', 'start:cluster', 'api', 'worker', 'gateway', 'iq-sim'];
const LONG_RUNNING_SERVICES = ['api', 'worker', 'gateway'];

const commands: Array<[string, string[]]> = [
  ...LONG_RUNNING_SCRIPTS.map((name): [string, string[]] => [
    `npm run ${name}`,
    (scripts[name] ?? '').split(/\s+/).filter(Boolean),
  ]),
  ...LONG_RUNNING_SERVICES.map((name): [string, string[]] => [
    `compose service ${name}`,
    compose.services[name]?.command ?? [],
  ]),
  ['Dockerfile CMD', dockerCmd ? (JSON.parse(dockerCmd) as string[]) : []],
];

/** The command with its TypeScript entry point replaced by the stand-in. */
function withStandIn(argv: string[]): string[] {
  const entry = argv.findIndex((word) => word.endsWith('.ts'));
  if (entry < 0) throw new Error(`no .ts entry point in ${argv.join(' ')}`);
  return argv.map((word, i) => (i === entry ? STAND_IN : word));
}

/** Runs argv (as npm or a container would, `tsx` on the PATH), signals it while busy, and answers its output and exit. */
async function signalWhileBusy(argv: string[], signal: 'SIGINT' | 'SIGTERM', toGroup: boolean) {
  const [command, ...args] = withStandIn(argv);
  const child = spawn(command!, args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: [join(ROOT, 'node_modules/.bin'), process.env.PATH].join(delimiter) },
  });
  let output = '';
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  await new Promise<void>((ready, failed) => {
    const timer = setTimeout(() => failed(new Error(`never busy: ${output}`)), 60_000);
    const look = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('busy')) {
        clearTimeout(timer);
        ready();
      }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
  });
  // Well inside the stand-in's busy second.
  await new Promise((r) => setTimeout(r, 100));
  process.kill(toGroup ? -child.pid! : child.pid!, signal);
  const code = await exited;
  // Whatever is left of the group (nothing, when the stop went as it should).
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {}
  return { output, code };
}

describe('a stop reaches a busy long-running process', () => {
  it.each(commands)('%s: Ctrl-C and a container stop run its own handler', async (_, argv) => {
    expect(argv.length).toBeGreaterThan(0);
    const [ctrlC, stop] = await Promise.all([
      signalWhileBusy(argv, 'SIGINT', true),
      signalWhileBusy(argv, 'SIGTERM', false),
    ]);
    expect(ctrlC.output).toContain('handled SIGINT');
    expect(ctrlC.code).toBe(0);
    expect(stop.output).toContain('handled SIGTERM');
    expect(stop.code).toBe(0);
  });
});
