import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export type Log = (line: string) => void;

/** How long a server gets between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 5_000;

/**
 * Shell lines that stop the process `target` names (a pid, or `$$`) with `signal`, then SIGKILL after
 * STOP_GRACE_MS, once the process `parent` names has ended: Node cannot ask the kernel for that (no
 * PR_SET_PDEATHSIG), and neither our 'exit' handlers nor the SDK's teardown run when Node is killed or
 * crashes. A subshell that polls each second.
 */
const stopWhenGone = (parent: string, target: string, signal: 'INT' | 'TERM') => `(
  while kill -0 ${parent} 2>/dev/null && kill -0 ${target} 2>/dev/null; do sleep 1; done
  if kill -0 ${target} 2>/dev/null; then
    kill -${signal} ${target}
    waited=0
    while [ $waited -lt ${STOP_GRACE_MS / 1000} ] && kill -0 ${target} 2>/dev/null; do sleep 1; waited=$((waited + 1)); done
    kill -KILL ${target} 2>/dev/null
  fi
) </dev/null >/dev/null 2>&1 &
`;

/** Shell lines that make the script's process (after `exec`, the server itself) die with the process that spawned it. */
export const DIE_WITH_PARENT = `parent=$PPID
${stopWhenGone('"$parent"', '$$', 'TERM')}`;

/**
 * Stops the running process `pid` with `signal` once this process has ended, however it ended
 * (a server that a library spawned, such as embedded PostgreSQL).
 */
export function stopWithThisProcess(pid: number, signal: 'INT' | 'TERM'): void {
  const watcher = spawn(
    '/bin/sh',
    ['-c', stopWhenGone('"$1"', '"$2"', signal), 'stop-with-parent', String(process.pid), String(pid)],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  watcher.unref();
}

export interface SpawnedServer {
  child: ChildProcess;
  /** Last output lines, to explain a failed start. */
  outputTail: string[];
  /** Resolves once the process has exited and its output is read. */
  exited: Promise<void>;
  /** SIGTERM, then SIGKILL after STOP_GRACE_MS; resolves once the process has exited. */
  stop(): Promise<void>;
}

/**
 * Runs a server binary that dies with this process (see DIE_WITH_PARENT), its output line by line to
 * `log`. In a process group of its own: Ctrl-C at the terminal reaches this process (and what it
 * supervises), which stops the server once whatever uses it is done, instead of the server stopping
 * under them.
 */
export function spawnWithParent(
  command: string,
  args: string[],
  opts: { log?: Log | undefined; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): SpawnedServer {
  const log = opts.log ?? (() => {});
  const child = spawn('/bin/sh', ['-c', `${DIE_WITH_PARENT}exec "$0" "$@"`, command, ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  const outputTail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => {
      outputTail.push(line);
      if (outputTail.length > 40) outputTail.shift();
      log(line);
    });
  }
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { child, outputTail, exited, stop: () => stopChild(child, exited) };
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (hasExited(child)) return exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
