/**
 * N3, worker faults (issue 7, item 1): the harness of the worker-kill tests, one file per workflow
 * (worker-kill-*.test.ts) so that each has its own time budget and the files run side by side.
 *
 * The worker runs as a real process and SIGKILLs itself at one activity boundary per run
 * (test/faults/worker-entry.ts, KS_CRASH); a supervisor starts it again. Every run must end in the
 * state of an undisturbed run: same terms and rows, every email delivered exactly once by idempotency
 * key (counted by the Resend stand-in, which dedupes like Resend), no voucher consumed without its
 * term, the profile deleted once.
 *
 * Boundaries: `before:<activity>:<n>` (the task was handed to the worker, nothing done),
 * `after:<activity>:<n>` (side effects committed, the server not told) and `provider:<key>:<n>` (the
 * email provider accepted the email, the mailer has not recorded it sent).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../support/database';
import { type FaultContext, faultContext, pool, type RunResult } from './lifecycles';
import { type ResendStandIn, startResendStandIn } from './resend-stand-in';

/** Kill runs at once: each is a worker process (two with its restart) on its own task queue. */
const WIDTH = 4;

export function describeWorkerKills(opts: {
  name: string;
  run: (ctx: FaultContext, crash?: string) => Promise<RunResult>;
  points: string[];
  /** What an undisturbed run must end in: the reference the kill runs are compared with. */
  checkUndisturbed: (summary: unknown) => void;
}) {
  const { name, points } = opts;
  let standIn: ResendStandIn;
  let baseline: RunResult | undefined;

  /**
   * Each run on a database of its own: the worker's relays sweep every queued row of their database,
   * so with one shared database a run's receipt could be sent by the worker of a run beside it, and
   * the kill planned at that send would never happen in the run's own worker.
   */
  const run = async (crash?: string): Promise<RunResult> => {
    const database = await createTestDatabase();
    let ctx: FaultContext | undefined;
    try {
      ctx = await faultContext({
        database,
        temporalAddress: inject('devServerAddress'),
        workflowBundlePath: inject('workflowBundlePath'),
        standIn,
      });
      return await opts.run(ctx, crash);
    } finally {
      await ctx?.close();
      await database.close();
    }
  };

  beforeAll(async () => {
    standIn = await startResendStandIn();
  });
  afterAll(async () => {
    await standIn?.close();
  });

  describe(`a ${name} worker process killed at each activity boundary`, () => {
    it('undisturbed run: the end state to compare with', async () => {
      baseline = await run();
      opts.checkUndisturbed(baseline.summary);
      console.log(`[faults] undisturbed ${name}: ${baseline.ms} ms`);
    }, 120_000);

    it('every kill run ends in the undisturbed end state', async () => {
      expect(baseline).toBeDefined();
      // KS_FAULT_POINTS=after:redeem,provider: only the boundaries containing one of these (debugging).
      const only = process.env.KS_FAULT_POINTS?.split(',');
      const runs = points.filter((point) => !only || only.some((part) => point.includes(part)));
      const started = Date.now();
      const results = await pool(runs, WIDTH, async (point) => {
        const t = Date.now();
        try {
          return await run(point);
        } finally {
          if (process.env.KS_FAULT_TRACE)
            console.log(
              `[faults] ${name} ${point} done after ${Date.now() - t} ms (+${Date.now() - started} ms)`,
            );
        }
      });

      const rows: string[] = [];
      const failures: string[] = [];
      runs.forEach((point, i) => {
        const outcome = results[i]!;
        let survived = false;
        let note = '';
        if (outcome.status === 'rejected') {
          note = String(outcome.reason).split('\n')[0] ?? '';
          failures.push(`${point}: ${String(outcome.reason)}`);
        } else {
          const r = outcome.value;
          const killed = r.crashes.length === 1 && r.crashes[0] === point && r.starts === 2;
          const same = JSON.stringify(r.summary) === JSON.stringify(baseline!.summary);
          survived = killed && same;
          note = `${r.ms} ms${killed ? '' : ` killed at ${JSON.stringify(r.crashes)}, ${r.starts} starts`}`;
          if (!killed) failures.push(`${point}: the kill did not happen as planned (${note})`);
          if (!same) {
            failures.push(
              `${point}: end state differs\n got ${JSON.stringify(r.summary)}\nwant ${JSON.stringify(baseline!.summary)}`,
            );
          }
        }
        rows.push(`| ${point.padEnd(38)} | ${survived ? 'yes' : 'NO '} | ${note}`);
      });
      const survivedCount = rows.filter((r) => r.includes('| yes |')).length;
      console.log(
        [
          `[faults] ${name} worker kills: ${survivedCount}/${runs.length} survived in ${Date.now() - started} ms (${WIDTH} at a time)`,
          `| boundary${' '.repeat(30)} | ok  | duration`,
          ...rows,
          `[faults] stand-in: ${standIn.deliveries.length} deliveries, ${standIn.replays} idempotent replays`,
        ].join('\n'),
      );
      expect(failures).toEqual([]);
      // About a minute on two idle cores; the margin is for a CI machine running other test files beside.
    }, 600_000);
  });
}
