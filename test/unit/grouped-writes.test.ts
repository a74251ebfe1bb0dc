import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { groupedWrites } from '../../db/grouped-writes';

/** A write the test finishes by hand: each call waits until the test lets it end. */
function heldWrites<T>() {
  const calls: Array<{ rows: T[]; finish: (error?: Error) => void }> = [];
  const write = (rows: T[]) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ rows, finish: (error) => (error ? reject(error) : resolve()) });
    });
  return { calls, write };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('groupedWrites', () => {
  it('writes a row at once when nothing is in flight, and groups the rows that arrive meanwhile', async () => {
    const { calls, write } = heldWrites<number>();
    const record = groupedWrites(write, 100);
    const first = record(1);
    expect(calls.map((c) => c.rows)).toEqual([[1]]);
    const later = [record(2), record(3), record(4)];
    await tick();
    expect(calls).toHaveLength(1);
    calls[0]!.finish();
    await first;
    await tick();
    expect(calls.map((c) => c.rows)).toEqual([[1], [2, 3, 4]]);
    calls[1]!.finish();
    await Promise.all(later);
    // Idle again: the next row goes at once.
    void record(5);
    expect(calls.at(-1)!.rows).toEqual([5]);
  });

  it('writes at most maxRows in one statement', async () => {
    const { calls, write } = heldWrites<number>();
    const record = groupedWrites(write, 2);
    const all = [1, 2, 3, 4, 5, 6].map((n) => record(n));
    for (let i = 0; i < 4; i++) {
      await tick();
      calls[i]!.finish();
    }
    await Promise.all(all);
    expect(calls.map((c) => c.rows)).toEqual([[1], [2, 3], [4, 5], [6]]);
  });

  it('tries a failed group row by row, so only the bad row’s caller fails', async () => {
    const stored: number[] = [];
    const record = groupedWrites(async (rows: number[]) => {
      await tick();
      if (rows.includes(13)) throw new Error('foreign key violation');
      stored.push(...rows);
    }, 100);
    const outcomes = await Promise.allSettled([11, 12, 13, 14].map((n) => record(n)));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[2] as PromiseRejectedResult).reason).toEqual(new Error('foreign key violation'));
    expect(stored.sort()).toEqual([11, 12, 14]);
  });

  it('under generated arrivals and failures, stores every good row once and answers each caller once by its own row', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.record({ bad: fc.boolean(), at: fc.nat(5) }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 6 }),
        async (s, rows, maxRows) => {
          const stored: number[] = [];
          let inFlight = 0;
          let overlapped = false;
          const record = groupedWrites(async (batch: number[]) => {
            if (++inFlight > 1) overlapped = true;
            try {
              if (batch.length > maxRows) throw new Error(`group of ${batch.length}`);
              await s.schedule(Promise.resolve(), `write ${batch.join(',')}`);
              // One statement: a bad row fails all of it, and nothing of it is stored.
              if (batch.some((i) => rows[i]!.bad)) throw new Error('bad row');
              stored.push(...batch);
            } finally {
              inFlight--;
            }
          }, maxRows);
          const answers = Promise.allSettled(
            rows.map(async (row, i) => {
              for (let k = 0; k < row.at; k++) await s.schedule(Promise.resolve(), `arrive ${i}`);
              return record(i);
            }),
          );
          const settled = await s.waitFor(answers);
          expect(overlapped).toBe(false);
          expect([...stored].sort((a, b) => a - b)).toEqual(rows.flatMap((row, i) => (row.bad ? [] : [i])));
          expect(settled.map((answer) => answer.status)).toEqual(
            rows.map((row) => (row.bad ? 'rejected' : 'fulfilled')),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
