/**
 * Records histories of `subscription-<siteId>` with the workflow code of the checkout it runs in, for
 * the replay tests (test/workflows/subscription-replay.test.ts). Run it BEFORE changing the workflow:
 *
 *   npx tsx test/workflows/histories/record-subscription.ts <prefix>
 *
 * It starts a throwaway stack (embedded PostgreSQL, dev server, worker: bench/local-stack) and writes
 * `<prefix>-*.binpb` here (binary protobuf; the SDK's JSON reader meets two copies of protobufjs):
 *   <prefix>-sandbox-run1: a sandbox site whose workflow starts at site creation: a redemption, its
 *     receipt, the clock moved 3 days (28-day reminder), two redemptions at once, the clock moved past
 *     the end (expiry, expired email), continue-as-new. The whole first run.
 *   <prefix>-sandbox-run2: the run after it, waiting (expired).
 *   <prefix>-burst: two redemptions at once as the first thing a site's workflow sees (both by
 *     update-with-start), their receipts, then waiting for the first reminder.
 *   <prefix>-told: a sandbox site without a workflow whose redemptions are claimed as the API claims
 *     them and told by a redemption relay: two claims at once (the first telling starts the
 *     workflow), the clock moved to the 28-day reminder, the same two tellings again, a third
 *     claim, then the clock moved past the end (expiry, expired email), up to continue-as-new. The
 *     clock moves to the current term's dates: which claim committed second decides them (V5).
 *   <prefix>-overtaken: a sandbox site whose claims are told out of order, as a relay telling side by
 *     side can: a claim, a second one past the first term's end (it expires that term), a third;
 *     told first, third, then second (its state overtaken, its expired term still to email) while
 *     the workflow waits for the third's reminder; then a fourth claim told; the expired email (on
 *     code before patch `overtaken-expiry-wakes`, only after that fourth telling), up to
 *     continue-as-new. The first run.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import proto from '@temporalio/proto';
import { createRedemptionAnnouncer } from '../../../activities/subscription';
import { startLocalStack } from '../../../bench/local-stack';
import { findCurrentTerm } from '../../../db/queries/subscriptions';
import { issueVouchers } from '../../../db/queries/vouchers';
import { accessMethods, iqs, memberships, profiles, sites } from '../../../db/schema';
import type { SubscriptionChanged } from '../../../domain/subscription';
import { hashVoucherCode, normalizeVoucherCode } from '../../../domain/voucher-codes';
import { createMailer } from '../../../emails/mailer';
import { noopGatewayClient } from '../../../gateway/client';
import { redeemVoucher as claimRedemption } from '../../../operations/subscription';
import { createRedemptionRelay } from '../../../outbox/redemption-relay';
import {
  advanceSandboxClock,
  ensureSubscriptionWorkflow,
  querySubscriptionState,
  redeemVoucher,
  subscriptionTeller,
} from '../../../workflows/client/subscription';
import { subscriptionWorkflowId } from '../../../workflows/ids';

const prefix = process.argv[2];
if (!prefix) throw new Error('usage: record-subscription.ts <prefix>');
const DAY_S = 86_400;

const stack = await startLocalStack({ mode: 'development' });
const { db, sql } = stack.database;
const { temporal, taskQueue } = stack;

async function site(sandbox: boolean) {
  const [owner] = await db
    .insert(profiles)
    .values({ email: `${randomUUID()}@record.test`, name: 'Owner', passwordHash: 'x' })
    .returning();
  const [row] = await db
    .insert(sites)
    .values({ name: `Record ${randomUUID()}`, sandbox })
    .returning();
  await db.insert(memberships).values({ siteId: row!.id, profileId: owner!.id, role: 'owner' });
  await db.insert(accessMethods).values({ siteId: row!.id, profileId: owner!.id, kind: 'remote' });
  await db
    .insert(iqs)
    .values({ siteId: row!.id, serial: `IQ-${randomUUID()}`, model: 'IQ2', secretHash: 'x' });
  return { siteId: row!.id, ownerId: owner!.id };
}

async function code(durationDays: number, usersLimit = 10) {
  const [v] = await issueVouchers(db, { usersLimit, iqsLimit: 2, durationDays }, 1);
  return hashVoucherCode(normalizeVoucherCode(v!.code)!);
}

const redeem = async (s: { siteId: string; ownerId: string }, codeHash: string) => {
  const result = await redeemVoucher(temporal, taskQueue, s.siteId, {
    codeHash,
    requestId: randomUUID(),
    actorProfileId: s.ownerId,
  });
  if (!result.ok) throw new Error(`redemption refused: ${result.code}`);
  return result.term.id;
};

async function waitFor(what: string, check: () => Promise<boolean>) {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
const sent = (key: string) =>
  waitFor(key, async () => (await sql`select 1 from sent_emails where idempotency_key = ${key}`).length > 0);

/** Moves a sandbox site's clock to a day past `atMs` (site time). */
async function moveClockPast(siteId: string, atMs: number) {
  const nowMs = Date.parse((await querySubscriptionState(temporal, siteId)).now);
  await advanceSandboxClock(temporal, taskQueue, siteId, Math.ceil((atMs - nowMs) / 1000) + DAY_S);
}

async function save(name: string, workflowId: string, runId?: string) {
  const history = await temporal.workflow.getHandle(workflowId, runId).fetchHistory();
  const bytes = proto.temporal.api.history.v1.History.encode(history).finish();
  await writeFile(new URL(`./${prefix}-${name}.binpb`, import.meta.url), bytes);
  console.log(`${prefix}-${name}.binpb: ${history.events?.length} events`);
}

try {
  const sandbox = await site(true);
  const workflowId = subscriptionWorkflowId(sandbox.siteId);
  await ensureSubscriptionWorkflow(temporal, taskQueue, sandbox.siteId);
  const firstRun = (await temporal.workflow.getHandle(workflowId).describe()).runId;
  const t1 = await redeem(sandbox, await code(30, 2));
  await sent(`receipt:${t1}`);
  await advanceSandboxClock(temporal, taskQueue, sandbox.siteId, 3 * DAY_S);
  await sent(`reminder:${t1}:28d`);
  const [t2, t3] = await Promise.all([redeem(sandbox, await code(30)), redeem(sandbox, await code(60))]);
  await sent(`receipt:${t2}`);
  await sent(`receipt:${t3}`);
  await advanceSandboxClock(temporal, taskQueue, sandbox.siteId, 200 * DAY_S);
  await waitFor(
    'the next run',
    async () => (await temporal.workflow.getHandle(workflowId).describe()).runId !== firstRun,
  );
  await save('sandbox-run1', workflowId, firstRun);
  // The next run once it waits: its first workflow task completed.
  await waitFor('the next run to wait', async () =>
    (await temporal.workflow.getHandle(workflowId).fetchHistory()).events!.some(
      (e) => e.workflowTaskCompletedEventAttributes,
    ),
  );
  await save('sandbox-run2', workflowId);

  const burst = await site(false);
  const [b1, b2] = await Promise.all([redeem(burst, await code(365)), redeem(burst, await code(365))]);
  await sent(`receipt:${b1}`);
  await sent(`receipt:${b2}`);
  // The loop is back to waiting for the first reminder once the second receipt's push is done.
  await new Promise((r) => setTimeout(r, 2000));
  await save('burst', subscriptionWorkflowId(burst.siteId));

  // The API's path: claimed in PostgreSQL, told by a relay.
  const relay = createRedemptionRelay({
    db,
    temporal,
    taskQueue,
    announce: createRedemptionAnnouncer({
      db,
      mailer: createMailer({ db, from: 'record@ks.test' }),
      gateway: noopGatewayClient,
    }),
  });
  const told = await site(true);
  const toldId = subscriptionWorkflowId(told.siteId);
  const claim = async (codeHash: string) => {
    const result = await claimRedemption(db, {
      siteId: told.siteId,
      codeHash,
      requestId: randomUUID(),
      actorProfileId: told.ownerId,
      announce: true,
    });
    if (!result.ok) throw new Error(`claim refused: ${result.code}`);
    return result;
  };
  const [c1, c2] = await Promise.all([claim(await code(30, 2)), claim(await code(30))]);
  await relay.handOver();
  await sent(`receipt:${c2.term.id}`);
  const toldRun = (await temporal.workflow.getHandle(toldId).describe()).runId;
  // The claim that committed second holds the current term, with what it carried over (V5): how far
  // its 28-day reminder is depends on which one that was.
  const current = await findCurrentTerm(db, told.siteId);
  await moveClockPast(told.siteId, current!.endsAt.getTime() - 28 * DAY_S * 1000);
  await sent(`reminder:${current!.id}:28d`);
  // Both told again: neither is newer than what the workflow holds, so nothing changes.
  const tell = subscriptionTeller(temporal, taskQueue);
  await tell(told.siteId, { site: c1.site!, clock: c1.clock! } as SubscriptionChanged);
  await tell(told.siteId, { site: c2.site!, clock: c2.clock! } as SubscriptionChanged);
  const c3 = await claim(await code(60));
  await relay.handOver();
  await sent(`receipt:${c3.term.id}`);
  await moveClockPast(told.siteId, (await findCurrentTerm(db, told.siteId))!.endsAt.getTime());
  await waitFor(
    'the next run',
    async () => (await temporal.workflow.getHandle(toldId).describe()).runId !== toldRun,
  );
  await save('told', toldId, toldRun);

  const late = await site(true);
  const lateId = subscriptionWorkflowId(late.siteId);
  const claimAt = async (clockMs: number, codeHash: string) => {
    const result = await claimRedemption(
      db,
      { siteId: late.siteId, codeHash, requestId: randomUUID(), actorProfileId: late.ownerId },
      () => clockMs,
    );
    if (!result.ok) throw new Error(`claim refused: ${result.code}`);
    const { site, clock, expiredTermId } = result;
    return { term: result.term, telling: { site, clock, expiredTermId } as SubscriptionChanged };
  };
  const o1 = await claimAt(Date.now(), await code(30));
  const o2 = await claimAt(o1.term.endsAtMs + DAY_S * 1000, await code(30));
  if (o2.telling.expiredTermId !== o1.term.id)
    throw new Error('the second claim did not expire the first term');
  const o3 = await claimAt(o2.term.startsAtMs, await code(60));
  await tell(late.siteId, o1.telling);
  const lateRun = (await temporal.workflow.getHandle(lateId).describe()).runId;
  // Read in that run: it may continue as new right after the third telling (the expired email sent).
  const signalsSettled = (n: number) =>
    waitFor(`${n} signals handled`, async () => {
      const events = (await temporal.workflow.getHandle(lateId, lateRun).fetchHistory()).events!;
      const last = events.findLastIndex((e) => e.workflowExecutionSignaledEventAttributes);
      return (
        events.filter((e) => e.workflowExecutionSignaledEventAttributes).length === n &&
        events.slice(last).some((e) => e.workflowTaskCompletedEventAttributes)
      );
    });
  await signalsSettled(1);
  await tell(late.siteId, o3.telling);
  await signalsSettled(2);
  await tell(late.siteId, o2.telling);
  await signalsSettled(3);
  await new Promise((r) => setTimeout(r, 2000));
  const o4 = await claimAt(o3.term.startsAtMs, await code(90));
  await tell(late.siteId, o4.telling);
  await sent(`expired:${o1.term.id}`);
  await waitFor(
    'the next run',
    async () => (await temporal.workflow.getHandle(lateId).describe()).runId !== lateRun,
  );
  await save('overtaken', lateId, lateRun);
} finally {
  await stack.stop();
}
