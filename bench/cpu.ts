import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports process times in clock ticks; 100 a second on every platform Node runs on here. */
const TICKS_PER_SECOND = 100;

interface Proc {
  pid: number;
  ppid: number;
  cmdline: string;
  /** User plus system CPU seconds so far. */
  cpu: number;
}

/** User plus system CPU seconds so far of one process, and its parent; undefined once it ended. */
function readStat(pid: number): { ppid: number; cpu: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (in parentheses, which may hold spaces): state ppid … utime stime.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

function processes(): Proc[] {
  const found: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readStat(Number(entry));
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (stat) found.push({ pid: Number(entry), ...stat, cmdline });
    } catch {
      // The process ended while we read.
    }
  }
  return found;
}

/** The pids of the processes whose command line matches each pattern, with their descendants. */
function pidsOf(all: Proc[], patterns: Record<string, RegExp>): Record<string, number[]> {
  const children = new Map<number, Proc[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const tree = (p: Proc): number[] => [p.pid, ...(children.get(p.pid) ?? []).flatMap(tree)];
  return Object.fromEntries(
    Object.entries(patterns).map(([name, pattern]) => [
      name,
      all.filter((p) => pattern.test(p.cmdline)).flatMap(tree),
    ]),
  );
}

/**
 * CPU seconds used so far by the processes whose command line matches each pattern, with their
 * descendants (PostgreSQL's backends are children of its postmaster). Linux only: undefined elsewhere.
 */
export function cpuSeconds(patterns: Record<string, RegExp>): Record<string, number> | undefined {
  if (process.platform !== 'linux') return undefined;
  const all = processes();
  const cpuOf = new Map(all.map((p) => [p.pid, p.cpu]));
  return Object.fromEntries(
    Object.entries(pidsOf(all, patterns)).map(([name, pids]) => [
      name,
      pids.reduce((s, pid) => s + (cpuOf.get(pid) ?? 0), 0),
    ]),
  );
}

/**
 * cpuSeconds for sampling often: the processes are found once, and each call reads only their stat
 * files (a full scan of /proc costs about 2.5 ms of CPU, which every tenth of a second would weigh on
 * what it measures). A process that ended keeps its last reading; one started later is not counted.
 */
export function cpuSampler(patterns: Record<string, RegExp>): () => Record<string, number> {
  if (process.platform !== 'linux') return () => ({});
  const pids = pidsOf(processes(), patterns);
  const last = new Map<number, number>();
  return () =>
    Object.fromEntries(
      Object.entries(pids).map(([name, list]) => [
        name,
        list.reduce((s, pid) => {
          const cpu = readStat(pid)?.cpu ?? last.get(pid) ?? 0;
          last.set(pid, cpu);
          return s + cpu;
        }, 0),
      ]),
    );
}

/**
 * CPU seconds so far of this process's threads, added up by thread name: `main`, then by Linux's
 * `comm` (`tokio-runtime-w` for Temporal's core, `libuv-worker` for the thread pool). Threads named
 * `node` are told apart by when they started: those started with the process are V8's own (garbage
 * collection, compilers), added up as `node (V8)`; those started later are worker threads (Temporal's
 * workflow threads), each on its own as `node worker N` in the order they started. Linux only:
 * undefined elsewhere.
 */
export function threadCpuSeconds(): Record<string, number> | undefined {
  if (process.platform !== 'linux') return undefined;
  const fieldsOf = (stat: string) => stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Field 22 of stat (the 20th after the command): when the process or thread started, in ticks.
  const processStart = Number(fieldsOf(readFileSync('/proc/self/stat', 'utf8'))[19]);
  const byName: Record<string, number> = {};
  const workers: Array<{ start: number; tid: number; seconds: number }> = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = fieldsOf(stat);
      const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
      const start = Number(fields[19]);
      if (Number(tid) === process.pid) byName.main = seconds;
      else if (comm === 'node' && start - processStart > TICKS_PER_SECOND) {
        workers.push({ start, tid: Number(tid), seconds });
      } else {
        const name = comm === 'node' ? 'node (V8)' : comm;
        byName[name] = (byName[name] ?? 0) + seconds;
      }
    } catch {
      // The thread ended while we read.
    }
  }
  workers.sort((a, b) => a.start - b.start || a.tid - b.tid);
  workers.forEach((w, i) => {
    byName[`node worker ${i + 1}`] = w.seconds;
  });
  return byName;
}
