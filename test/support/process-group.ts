import { execFileSync } from 'node:child_process';

/** pgrep's matches, one per line (empty when none: pgrep exits 1 then). */
function pgrep(args: string[]): string {
  try {
    return execFileSync('pgrep', args, { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** The processes of a process group, one per line (empty when none is left). */
export const groupMembers = (pgid: number): string => pgrep(['-a', '-g', String(pgid)]);

/** What `list` still names once it names nothing or the time is up, asking every 250 ms. */
async function leftAfter(list: () => string, timeoutMs: number): Promise<string> {
  for (let waited = 0; waited < timeoutMs; waited += 250) {
    if (list() === '') return '';
    await new Promise((r) => setTimeout(r, 250));
  }
  return list();
}

/**
 * Ctrl-C: SIGINT to the whole process group, as a terminal sends it. Resolves with what is left once
 * every process of the group has ended, or the time is up.
 */
export async function pressCtrlC(pgid: number, timeoutMs = 60_000): Promise<string> {
  process.kill(-pgid, 'SIGINT');
  return leftAfter(() => groupMembers(pgid), timeoutMs);
}

/**
 * What is left, once the time is up, of the processes whose command line names `text` (e.g. a data
 * directory): nothing, when everything stopped. The servers' watchers (infra/server-process.ts) poll
 * each second, so they end up to a second after their server.
 */
export const processesLeftUsing = (text: string, timeoutMs = 5_000): Promise<string> =>
  leftAfter(() => pgrep(['-af', text]), timeoutMs);
