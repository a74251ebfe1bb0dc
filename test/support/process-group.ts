import { execFileSync } from 'node:child_process';

/** The processes of a process group, one per line (empty when none is left). */
export function groupMembers(pgid: number): string {
  try {
    return execFileSync('pgrep', ['-a', '-g', String(pgid)], { encoding: 'utf8' }).trim();
  } catch {
    return ''; // pgrep exits 1 when nothing matches
  }
}

/**
 * Ctrl-C: SIGINT to the whole process group, as a terminal sends it. Resolves with what is left once
 * every process of the group has ended, or the time is up.
 */
export async function pressCtrlC(pgid: number, timeoutMs = 60_000): Promise<string> {
  process.kill(-pgid, 'SIGINT');
  for (let waited = 0; waited < timeoutMs; waited += 250) {
    if (groupMembers(pgid) === '') return '';
    await new Promise((r) => setTimeout(r, 250));
  }
  return groupMembers(pgid);
}

/** Processes whose command line names `text` (e.g. a data directory), one per line. */
function processesUsing(text: string): string {
  try {
    return execFileSync('pgrep', ['-af', text], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/**
 * What is left, once the time is up, of the processes whose command line names `text`: nothing, when
 * everything stopped. The servers' watchers (infra/server-process.ts) poll each second, so they end
 * up to a second after their server.
 */
export async function processesLeftUsing(text: string, timeoutMs = 5_000): Promise<string> {
  for (let waited = 0; waited < timeoutMs; waited += 250) {
    if (processesUsing(text) === '') return '';
    await new Promise((r) => setTimeout(r, 250));
  }
  return processesUsing(text);
}
