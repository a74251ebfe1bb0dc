/**
 * N3, dependency faults (issue 7, item 2), with the worker as a real process:
 * (a) PostgreSQL stopped and started again (same port, same data) while activities run;
 * (b) the email provider's endpoint refusing (500, 429) or losing its answer about half the time.
 * The gateway restarted during a rollout belongs with the rollout workflow (not built here yet).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { connectDatabase } from '../../db/client';
import { createTestDatabase } from '../support/database';
import { type FaultContext, faultContext, runDeletion, runSubscription } from './lifecycles';
import { type Behaviour, type ResendStandIn, startResendStandIn } from './resend-stand-in';
import { startRestartablePostgres } from './restartable-postgres';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

async function context(database: FaultContext['database'], standIn: ResendStandIn) {
  const ctx = await faultContext({
    database,
    temporalAddress: inject('devServerAddress'),
    workflowBundlePath: inject('workflowBundlePath'),
    standIn,
  });
  cleanups.push(() => ctx.close());
  return ctx;
}

describe('dependency faults', () => {
  it('PostgreSQL restarted twice while activities run: they retry and the lifecycle ends as undisturbed', async () => {
    const pg = await startRestartablePostgres('faults');
    cleanups.push(() => pg.close());
    const url = pg.url;
    const database = { ...connectDatabase(url), url };
    cleanups.push(() => database.close());
    const standIn = await startResendStandIn();
    cleanups.push(() => standIn.close());
    const ctx = await context(database, standIn);

    const undisturbed = await runSubscription(ctx);
    const outages: number[] = [];
    const disturbed = await runSubscription(ctx, {
      // Down before the clock moves: setSiteClockOffset and the reminder's first attempts fail.
      during: async (step, advance) => {
        if (step !== 'redeemed' && step !== 'reminded1') return advance();
        const down = Date.now();
        await pg.stop();
        const moving = advance();
        await sleep(3_000);
        await pg.start();
        await moving;
        outages.push(Date.now() - down);
      },
    });
    console.log(
      `[faults] PostgreSQL restarts: ${outages.length}, outage until the step finished: ${outages.join(', ')} ms; ${disturbed.failedAttempts} activity attempts failed and were retried; run ${disturbed.ms} ms (undisturbed ${undisturbed.ms} ms)`,
    );
    expect(outages).toHaveLength(2);
    expect(undisturbed.failedAttempts).toBe(0);
    expect(disturbed.failedAttempts).toBeGreaterThanOrEqual(2);
    expect(disturbed.summary).toEqual(undisturbed.summary);
  }, 150_000);

  it('the email endpoint refusing or losing half its answers: every email delivered exactly once', async () => {
    // Per key, in arrival order: even keys are refused once (500), then delivered; odd keys are
    // refused once (429), then delivered with the answer lost (500), then answered from the stand-in's
    // idempotency record. Half the answers or more are errors.
    const behaviour = (_key: string, attempt: number, keyIndex: number): Behaviour => {
      if (attempt === 1) return keyIndex % 2 === 0 ? 'refuse500' : 'refuse429';
      return keyIndex % 2 === 1 && attempt === 2 ? 'deliverThenLose' : 'deliver';
    };
    const standIn = await startResendStandIn({ behaviour });
    cleanups.push(() => standIn.close());
    const database = await createTestDatabase();
    cleanups.push(() => database.close());
    const ctx = await context(database, standIn);

    const [sub, del] = await Promise.all([runSubscription(ctx), runDeletion(ctx)]);
    const subSummary = sub.summary as { delivered: Record<string, number>; sentEmails: unknown[] };
    const delSummary = del.summary as { delivered: Record<string, number>; sentEmails: unknown[] };
    expect(subSummary.delivered).toEqual({
      'receipt:T': 1,
      'reminder:T:28d': 1,
      'reminder:T:7d': 1,
      'reminder:T:1d': 1,
      'expired:T': 1,
    });
    expect(delSummary.delivered).toEqual({
      'deletion-consent-request:R:S1': 1,
      'deletion-consent-request:R:S2': 1,
      'profile-deleted:R': 1,
    });
    // Each email once and sent; the goodbye's row stays only as a redacted record (D7: no address).
    expect(subSummary.sentEmails).toEqual(
      ['expired:T', 'receipt:T', 'reminder:T:1d', 'reminder:T:28d', 'reminder:T:7d'].map((key) => ({
        idempotency_key: key,
        template: expect.any(String),
        status: 'sent',
        to_owner: true,
      })),
    );
    expect(delSummary.sentEmails).toEqual([
      ...['deletion-consent-request:R:S1', 'deletion-consent-request:R:S2'].map((key) => ({
        idempotency_key: key,
        template: 'deletion-consent-request',
        status: 'sent',
      })),
      { idempotency_key: 'profile-deleted:R', template: 'profile-deleted', status: 'sent' },
    ]);
    const requests = [...standIn.attempts.values()].reduce((a, b) => a + b, 0);
    const errors = (standIn.statuses[500] ?? 0) + (standIn.statuses[429] ?? 0);
    console.log(
      `[faults] flaky email endpoint: ${standIn.deliveries.length} delivered of 8 expected, ${requests} requests, ` +
        `${errors} answered 500/429 (${JSON.stringify(standIn.statuses)}), ${standIn.replays} idempotent replays; ` +
        `subscription ${sub.ms} ms, deletion ${del.ms} ms`,
    );
    expect(standIn.deliveries).toHaveLength(8);
    expect(errors * 2).toBeGreaterThanOrEqual(requests);
    expect(standIn.statuses[429]).toBeGreaterThan(0);
    expect(standIn.replays).toBeGreaterThan(0);
  }, 150_000);
});
