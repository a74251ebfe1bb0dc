/**
 * A burst of update-with-starts on one new `subscription-<siteId>` (the per-site burst of
 * test/security/throttling.test.ts without the API in front): every redemption gets the workflow's
 * answer, and no workflow task fails. Under such bursts SDK core 1.24 can lose a workflow task:
 * - the server then rejects the updates it carried ("wasn't processed by worker"): the client sends a
 *   failed redemption again (workflows/client/subscription.ts);
 * - when the handlers claimed by a local activity, a result from the lost task shaped commands that
 *   replay could not produce: the next task failed on a nondeterminism error, for good, and later
 *   updates were refused ("Workflow Task in failed state"). The claim is an activity since
 *   (patch `redemption-claim-by-activity`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { findCurrentTerm } from '../../db/queries/subscriptions';
import { subscriptionTerms } from '../../db/schema';
import { querySubscriptionState, redeemVoucher } from '../../workflows/client/subscription';
import { subscriptionWorkflowId } from '../../workflows/ids';
import { createSite, voucher } from '../support/fixtures';
import { startTestSystem, type TestSystem } from '../support/system';

const ROUNDS = 5;
const BURST = 30;
const VALID = 4;

let sys: TestSystem;
const started: string[] = [];

beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  for (const workflowId of started) {
    await sys?.temporal.workflow
      .getHandle(workflowId)
      .terminate('test finished')
      .catch(() => {});
  }
  await sys?.close();
});

describe('a burst of redemptions on one new subscription workflow', () => {
  it(`${ROUNDS} sites, ${BURST} update-with-starts at once each: every one answered by the workflow`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const owner = await sys.signIn();
      const site = await createSite(sys, owner.id);
      started.push(subscriptionWorkflowId(site.id));
      const valid = await Promise.all(
        Array.from({ length: VALID }, () => voucher(sys, { durationDays: 30 })),
      );
      const hashes = Array.from({ length: BURST }, (_, i) =>
        i < VALID ? valid[i]!.codeHash : randomBytes(32).toString('hex'),
      );
      const answers = await Promise.allSettled(
        hashes.map((codeHash) =>
          redeemVoucher(sys.temporal, sys.taskQueue, site.id, {
            codeHash,
            requestId: randomUUID(),
            actorProfileId: owner.id,
          }),
        ),
      );
      const failed = answers.flatMap((a) => (a.status === 'rejected' ? [String(a.reason)] : []));
      expect(failed, `round ${round}`).toEqual([]);
      const results = answers.map(
        (a) => (a as PromiseFulfilledResult<Awaited<ReturnType<typeof redeemVoucher>>>).value,
      );
      expect(results.slice(0, VALID).every((r) => r.ok)).toBe(true);
      expect(results.slice(VALID).every((r) => !r.ok && r.code === 'voucher_not_found')).toBe(true);

      // One term per valid voucher, and the workflow holds the database's current one.
      const terms = await sys.db
        .select()
        .from(subscriptionTerms)
        .where(eq(subscriptionTerms.siteId, site.id));
      expect(terms).toHaveLength(VALID);
      const current = await findCurrentTerm(sys.db, site.id);
      await vi.waitFor(
        async () => expect((await querySubscriptionState(sys.temporal, site.id)).term?.id).toBe(current!.id),
        { timeout: 30_000, interval: 200 },
      );
      const { events } = await sys.temporal.workflow
        .getHandle(subscriptionWorkflowId(site.id))
        .fetchHistory();
      const failedTasks = (events ?? []).flatMap((e) =>
        e.workflowTaskFailedEventAttributes ? [e.workflowTaskFailedEventAttributes.failure?.message] : [],
      );
      expect(failedTasks, `round ${round}`).toEqual([]);
    }
  }, 300_000);
});
