import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export type Log = (line: string) => void;

/** How long a server gets between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 5_000;

/**
 * Shell lines that make the script's process (after `exec`, the server itself) die with the
 * process that spawned it: Node cannot ask the kernel for that (no PR_SET_PDEATHSIG), and
 * neither our 'exit' handlers nor the SDK's teardown run when Node is killed or crashes.
 */
export const DIE_WITH_PARENT = `parent=$PPID
(
  while kill -0 "$parent" 2>/dev/null && kill -0 $$ 2>/dev/null; do sleep 1; done
  if kill -0 $$ 2>/dev/null; then
    kill -TERM $$
    waited=0
    while [ $waited -lt ${STOP_GRACE_MS / 1000} ] && kill -0 $$ 2>/dev/null; do sleep 1; waited=$((waited + 1)); done
    kill -KILL $$ 2>/dev/null
  fi
) </dev/null >/dev/null 2>&1 &
`;

export interface SpawnedServer {
  child: ChildProcess;
  /** Last output lines, to explain a failed start. */
  outputTail: string[];
  /** Resolves once the process has exited and its output is read. */
  exited: Promise<void>;
  /** SIGTERM, then SIGKILL after STOP_GRACE_MS; resolves once the process has exited. */
  stop(): Promise<void>;
}

/** Runs a server binary that dies with this process (see DIE_WITH_PARENT), its output line by line to `log`. */
export function spawnWithParent(
  command: string,
  args: string[],
  opts: { log?: Log | undefined; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): SpawnedServer {
  const log = opts.log ?? (() => {});
  const child = spawn('/bin/sh', ['-c', `${DIE_WITH_PARENT}exec "$0" "$@"`, command, ...args], {
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
