/**
 * postgres.js 3.4.9 keeps its connections in queues (open, busy, full) whose `shift` leaves what it
 * took as a prefix of `undefined` until the queue is empty, and whose `remove` searched from the
 * start: under steady load a queue never empties, so every move of a connection scanned and spliced
 * an array that grew with every query (issue 15: a query's CPU in the client rose from 40 to 91 µs
 * within 15 s of load; 11 % of the API thread in GET people). patches/postgres+3.4.9.patch, applied by
 * `npm install` (patch-package), searches from the first live entry and drops the taken prefix once it
 * is half the array. This holds the installed queue to the same answers as a plain FIFO, and to a
 * bounded search under steady load.
 */
import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

interface Queue<T> {
  readonly length: number;
  push(x: T): T;
  shift(): T | undefined;
  remove(x: T): T | null;
}

const installed = (path: string) => new URL(`../../node_modules/postgres/${path}`, import.meta.url);
const { default: Queue } = (await import(installed('src/queue.js').href)) as {
  default: <T>(initial?: T[]) => Queue<T>;
};

describe("postgres.js's connection queue (patched)", () => {
  it('answers as a plain FIFO for any sequence of pushes, shifts and removals', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const) }),
      fc.record({ kind: fc.constant('shift' as const) }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat(40) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 600 }), (ops) => {
        const queue = Queue<number>();
        const model: number[] = [];
        let next = 0;
        for (const o of ops) {
          if (o.kind === 'push') {
            expect(queue.push(next)).toBe(next);
            model.push(next++);
          } else if (o.kind === 'shift') {
            expect(queue.shift()).toBe(model.shift());
          } else {
            // Present or not (an id never pushed, or one already gone).
            const x = o.pick % (next + 2);
            const at = model.indexOf(x);
            if (at !== -1) model.splice(at, 1);
            expect(queue.remove(x)).toBe(at === -1 ? null : x);
          }
          expect(queue.length).toBe(model.length);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('under steady load (never empty) a removal searches only the live entries', () => {
    const queue = Queue<object>();
    const connections = Array.from({ length: 10 }, () => ({}));
    for (const c of connections) queue.push(c);
    const indexOf = Array.prototype.indexOf;
    let widest = 0;
    Array.prototype.indexOf = function (this: unknown[], x: unknown, from?: number) {
      widest = Math.max(widest, this.length - (from ?? 0));
      return indexOf.call(this, x, from);
    };
    try {
      // As a pool does: the next connection taken, another moved out of the middle, both put back.
      for (let i = 0; i < 100_000; i++) {
        const taken = queue.shift()!;
        const moved = connections[(i * 3 + 1) % connections.length]!;
        if (moved !== taken && queue.remove(moved)) queue.push(moved);
        queue.push(taken);
      }
    } finally {
      Array.prototype.indexOf = indexOf;
    }
    expect(queue.length).toBe(connections.length);
    expect(widest).toBeGreaterThan(0);
    // The unpatched queue searched all 100,000 entries it had taken by the end.
    expect(widest).toBeLessThanOrEqual(4 * connections.length + 64);
  });

  it('every copy the package ships (ESM, CommonJS, Cloudflare) carries the patch', async () => {
    const body = async (path: string) => (await readFile(installed(path), 'utf8')).replace(/^.*\n/, '');
    const esm = await body('src/queue.js');
    expect(esm).toContain('xs.indexOf(x, index)');
    expect(await body('cjs/src/queue.js')).toBe(esm);
    expect(await body('cf/src/queue.js')).toBe(esm);
  });
});
