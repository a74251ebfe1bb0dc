import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createWriteLanes } from '../../gateway/write-lanes';

type Op = { kind: 'one'; iq: number; fails: boolean } | { kind: 'all'; fails: boolean };

describe('gateway write lanes (generated interleavings)', () => {
  it('keeps each IQ’s writes in order and alone, runs a write of every row alone between what came before and after it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(
          fc.oneof(
            fc.record({
              kind: fc.constant('one' as const),
              iq: fc.integer({ min: 0, max: 3 }),
              fails: fc.boolean(),
            }),
            fc.record({ kind: fc.constant('all' as const), fails: fc.boolean() }),
          ),
          { minLength: 1, maxLength: 25 },
        ),
        async (s, ops: Op[]) => {
          const lanes = createWriteLanes();
          const running = new Set<number>();
          const started: number[] = [];
          const finished = new Set<number>();
          const violations: string[] = [];
          const task = (i: number) => async () => {
            const op = ops[i]!;
            started.push(i);
            for (const j of running) {
              const other = ops[j]!;
              if (op.kind === 'all' || other.kind === 'all') violations.push(`${i} beside ${j} (all)`);
              else if (other.kind === 'one' && other.iq === op.iq)
                violations.push(`${i} beside ${j} (same IQ)`);
            }
            for (let j = 0; j < i; j++) {
              const earlier = ops[j]!;
              const ordered =
                op.kind === 'all' ||
                earlier.kind === 'all' ||
                (earlier.kind === 'one' && earlier.iq === op.iq);
              if (ordered && !finished.has(j)) violations.push(`${i} before ${j} finished`);
            }
            running.add(i);
            // The scheduler decides when each write's round trip ends: every order is tried.
            await s.schedule(Promise.resolve(), `write ${i}`);
            running.delete(i);
            finished.add(i);
            if (op.fails) throw new Error(`write ${i} failed`);
            return i;
          };
          const results = ops.map((op, i) =>
            (op.kind === 'all' ? lanes.all(task(i)) : lanes.one(`iq-${op.iq}`, task(i))).then(
              (v) => ({ ok: true as const, v }),
              () => ({ ok: false as const }),
            ),
          );
          await s.waitFor(Promise.all(results));
          const outcomes = await Promise.all(results);
          expect(violations).toEqual([]);
          // Every write ran once, and a failed write failed only its own caller.
          expect([...started].sort((a, b) => a - b)).toEqual(ops.map((_, i) => i));
          expect(outcomes.map((o) => o.ok)).toEqual(ops.map((op) => !op.fails));
        },
      ),
      { numRuns: 300 },
    );
  });
});
