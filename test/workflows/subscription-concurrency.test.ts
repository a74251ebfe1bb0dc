/**
 * N7 for `subscription-<siteId>` (issue 11, finding 2): generated interleavings of concurrent
 * redemptions (new ones, and retries of earlier ones with their Idempotency-Key), sandbox clock
 * moves (some aimed at the current term's end, so expiry races the rest), and worker restarts (the
 * worker has no cache, so the next task replays from history), all through the HTTP API on the
 * shared dev server. After each run, once the workflow has caught up:
 * - every answer was 200 and a retried key got the first answer again;
 * - the terms form one chain (V3): each term starts where the one it replaced was cut short, with
 *   the carry-over V4 gives at that moment, or after the previous one expired (then with nothing
 *   carried); no gaps inside a chain, no overlaps;
 * - the workflow's term and status (state query) are the database's current term and status;
 * - every term answered 200 has exactly one receipt, and no other receipt exists;
 * - every term that ended unreplaced has been expired at or after its end (the event) and has
 *   its expired email, once; no other term has;
 * - the workflow did not continue-as-new more than once per expiry.
 *
 * Runs: KS_PROPERTY_RUNS (default 20: about two minutes on two idle cores; each run is one sandbox
 * site, 1–4 bursts of 1–6 actions). A failing run is reported with fast-check's seed and path and
 * is not shrunk (a timing-dependent failure would take long to shrink); KS_PROPERTY_SEED (with
 * KS_PROPERTY_PATH) replays one. Its report names what the site's workflow and emails were doing.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { carryOverSeconds, DAY_MS } from '../../domain/subscription';
import { querySubscriptionState } from '../../workflows/client/subscription';
import { subscriptionWorkflowId } from '../../workflows/ids';
import { voucher } from '../support/fixtures';
import { sandboxSite } from '../support/sandbox';
import { startTestSystem, type TestSystem } from '../support/system';

const RUNS = Number(process.env.KS_PROPERTY_RUNS ?? 20);
const SEED = process.env.KS_PROPERTY_SEED ? Number(process.env.KS_PROPERTY_SEED) : undefined;
const PATH = process.env.KS_PROPERTY_PATH;

const VOUCHERS = [
  { usersLimit: 2, iqsLimit: 1, durationDays: 1 },
  { usersLimit: 5, iqsLimit: 2, durationDays: 1 },
  { usersLimit: 10, iqsLimit: 2, durationDays: 2 },
  { usersLimit: 2, iqsLimit: 1, durationDays: 3 },
] as const;

type Action =
  | { kind: 'redeem'; voucher: number; withKey: boolean }
  | { kind: 'retry'; pick: number }
  | { kind: 'advance'; seconds: number }
  | { kind: 'toEnd'; deltaSeconds: number }
  | { kind: 'restart' };
type Timed = Action & { delayMs: number };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('redeem' as const),
      voucher: fc.nat(VOUCHERS.length - 1),
      withKey: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('retry' as const), pick: fc.nat(20) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      seconds: fc.integer({ min: 60, max: 3 * 86_400 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('toEnd' as const),
      deltaSeconds: fc.integer({ min: -2, max: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const) }) },
);
const timedArb: fc.Arbitrary<Timed> = fc
  .tuple(actionArb, fc.nat(40))
  .map(([action, delayMs]) => ({ ...action, delayMs }));
const scenarioArb = fc.array(fc.array(timedArb, { minLength: 1, maxLength: 6 }), {
  minLength: 1,
  maxLength: 4,
});

let sys: TestSystem;
let support: { token: string };
let interleavings = 0;

beforeAll(async () => {
  sys = await startTestSystem({ uncachedWorker: true });
  support = await sys.signIn({ platformRole: 'support' });
});
afterAll(async () => {
  await sys?.close();
});

interface Answer {
  voucherId: string;
  key?: string;
  status: number;
  body: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runScenario(bursts: Timed[][]) {
  const owner = await sys.signIn();
  const siteId = (await sandboxSite(sys, support.token, owner, { name: `Prop ${randomUUID().slice(0, 8)}` }))
    .id;
  const answers: Answer[] = [];
  const keyed: Array<{ key: string; code: string; voucherId: string }> = [];
  const durations = new Map<string, number>();
  let restarting = Promise.resolve();

  const redeem = async (code: string, voucherId: string, key?: string) => {
    const res = await sys.request('POST', `/sites/${siteId}/subscription/redemptions`, {
      token: owner.token,
      body: { code },
      ...(key ? { headers: { 'idempotency-key': key } } : {}),
    });
    answers.push({
      voucherId,
      ...(key ? { key } : {}),
      status: res.status,
      body: (await res.json()) as Record<string, unknown>,
    });
  };
  const advance = async (seconds: number) => {
    const res = await sys.request('POST', `/support/sites/${siteId}/clock`, {
      token: support.token,
      body: { advanceSeconds: seconds },
    });
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(200);
  };

  for (const burst of bursts) {
    // Vouchers are issued before the burst, so the burst's timing is the requests' own.
    const issued = await Promise.all(
      burst.map(async (a) => {
        if (a.kind !== 'redeem') return undefined;
        const spec = VOUCHERS[a.voucher]!;
        const v = await voucher(sys, spec);
        durations.set(v.id, spec.durationDays);
        return v;
      }),
    );
    await Promise.all(
      burst.map(async (a, i) => {
        await sleep(a.delayMs);
        switch (a.kind) {
          case 'redeem': {
            const v = issued[i]!;
            const key = a.withKey ? randomUUID() : undefined;
            if (key) keyed.push({ key, code: v.code, voucherId: v.id });
            return redeem(v.code, v.id, key);
          }
          case 'retry': {
            const earlier = keyed[a.pick % Math.max(1, keyed.length)];
            return earlier ? redeem(earlier.code, earlier.voucherId, earlier.key) : undefined;
          }
          case 'advance':
            return advance(a.seconds);
          case 'toEnd': {
            const [row] = await sys.sql`select t.ends_at, s.clock_offset_seconds
              from sites s left join subscription_terms t on t.site_id = s.id and t.replaced_at is null
              where s.id = ${siteId} order by t.starts_at desc nulls last limit 1`;
            if (!row?.ends_at) return undefined;
            const siteNow = Date.now() + Number(row.clock_offset_seconds) * 1000;
            const seconds = Math.ceil((new Date(row.ends_at).getTime() - siteNow) / 1000) + a.deltaSeconds;
            return seconds >= 1 ? advance(seconds) : undefined;
          }
          case 'restart':
            restarting = restarting.then(async () => {
              await sys.stopWorker();
              await sys.startWorker();
            });
            return restarting;
        }
      }),
    );
  }
  await restarting;
  interleavings++;
  // Eventually, not at once: a restart can abandon an email activity mid-attempt, which is retried
  // only after its minute-long start-to-close timeout (workflows/activity-options.ts), and retries back
  // off up to a minute; 150 s covers both on a loaded machine.
  await vi
    .waitFor(() => checkInvariants(siteId, answers, durations), { timeout: 150_000, interval: 250 })
    .catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await whatWasGoingOn(siteId)}`, { cause: error });
    });
}

/**
 * For a failure's report: the site's emails of its terms, and its workflow's state (what it does or
 * waits for, what is due), pending work and failures.
 */
async function whatWasGoingOn(siteId: string) {
  const mail = await sys.sql`select e.template, e.idempotency_key, e.status, e.attempts from sent_emails e
    join subscription_terms t on split_part(e.idempotency_key, ':', 2) = t.id::text
    where t.site_id = ${siteId} order by e.created_at`;
  const handle = sys.temporal.workflow.getHandle(subscriptionWorkflowId(siteId));
  const workflow = await Promise.all([
    handle.describe(),
    handle.fetchHistory(),
    querySubscriptionState(sys.temporal, siteId),
  ]).then(
    ([description, history, state]) => ({
      status: description.status.name,
      runId: description.runId,
      state,
      pending: description.raw.pendingActivities?.map((a) => ({
        type: a.activityType?.name,
        attempt: a.attempt,
        lastFailure: a.lastFailure?.message,
      })),
      // The current run's failed tasks and activities, by event id.
      failures: (history.events ?? []).flatMap((event) => {
        const failed = event.workflowTaskFailedEventAttributes ?? event.activityTaskFailedEventAttributes;
        const timedOut = event.activityTaskTimedOutEventAttributes;
        return failed || timedOut ? [`#${event.eventId} ${(failed ?? timedOut)?.failure?.message}`] : [];
      }),
    }),
    (error: Error) => error.message,
  );
  return JSON.stringify({ mail, workflow }, null, 1);
}

interface TermRow {
  id: string;
  voucher_id: string;
  starts_at: Date;
  ends_at: Date;
  users_limit: number;
  iqs_limit: number;
  carried_over_seconds: number;
  previous_term_id: string | null;
  replaced_at: Date | null;
}

async function checkInvariants(siteId: string, answers: Answer[], durations: Map<string, number>) {
  for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(200);
  // Raw rows: drizzle leaves timestamps as text on the connection it shares.
  const terms = (
    await sys.sql`select id, voucher_id, starts_at, ends_at, users_limit, iqs_limit,
      carried_over_seconds::int, previous_term_id, replaced_at
    from subscription_terms where site_id = ${siteId}`
  ).map((t) => ({
    ...t,
    starts_at: new Date(t.starts_at),
    ends_at: new Date(t.ends_at),
    replaced_at: t.replaced_at ? new Date(t.replaced_at) : null,
  })) as unknown as TermRow[];
  const byVoucher = new Map(terms.map((t) => [t.voucher_id, t]));

  // Each answer is its voucher's term; a retried key got the first answer again.
  const answeredVouchers = new Set(answers.map((a) => a.voucherId));
  expect(terms.length).toBe(answeredVouchers.size);
  for (const a of answers) {
    const t = byVoucher.get(a.voucherId);
    expect(t, `no term for voucher ${a.voucherId}`).toBeDefined();
    expect(a.body.term).toEqual({
      startsAt: t!.starts_at.toISOString(),
      endsAt: t!.ends_at.toISOString(),
      usersLimit: t!.users_limit,
      iqsLimit: t!.iqs_limit,
    });
    expect(a.body.carriedOverSeconds).toBe(t!.carried_over_seconds);
  }

  // One chain (V3, V4): segments of terms that replaced each other, separated by expiries.
  const expiredEvents = await sys.sql`select data->>'termId' as term_id, at from events
    where site_id = ${siteId} and type = 'subscription.expired'`;
  const expiredAt = new Map(expiredEvents.map((e) => [e.term_id as string, new Date(e.at)]));
  expect(expiredAt.size).toBe(expiredEvents.length);
  const byId = new Map(terms.map((t) => [t.id, t]));
  const successor = new Map<string, TermRow>();
  for (const t of terms) {
    expect(t.ends_at.getTime()).toBe(
      t.starts_at.getTime() + durations.get(t.voucher_id)! * DAY_MS + t.carried_over_seconds * 1000,
    );
    if (!t.previous_term_id) {
      expect(t.carried_over_seconds).toBe(0);
      continue;
    }
    const prev = byId.get(t.previous_term_id);
    expect(prev, `term ${t.id} follows a term of another site`).toBeDefined();
    expect(successor.has(prev!.id), `two terms replaced ${prev!.id}`).toBe(false);
    successor.set(prev!.id, t);
    expect(prev!.replaced_at?.getTime()).toBe(t.starts_at.getTime());
    expect(prev!.starts_at.getTime()).toBeLessThanOrEqual(t.starts_at.getTime());
    expect(prev!.ends_at.getTime()).toBeGreaterThan(t.starts_at.getTime());
    expect(t.carried_over_seconds).toBe(
      carryOverSeconds({
        nowMs: t.starts_at.getTime(),
        current: {
          endsAtMs: prev!.ends_at.getTime(),
          usersLimit: prev!.users_limit,
          iqsLimit: prev!.iqs_limit,
        },
        next: { usersLimit: t.users_limit, iqsLimit: t.iqs_limit },
      }),
    );
  }
  const segments = terms
    .filter((t) => !t.previous_term_id)
    .map((head) => {
      const chain = [head];
      for (let next = successor.get(head.id); next; next = successor.get(next.id)) chain.push(next);
      return chain;
    })
    .sort((a, b) => a[0]!.starts_at.getTime() - b[0]!.starts_at.getTime());
  expect(segments.flat().length, 'every term belongs to one chain').toBe(terms.length);
  for (const [i, segment] of segments.entries()) {
    const tail = segment.at(-1)!;
    expect(tail.replaced_at).toBeNull();
    const next = segments[i + 1];
    if (next) {
      // The tail expired before the next chain began: no overlap, and it was expired at its end.
      expect(tail.ends_at.getTime()).toBeLessThanOrEqual(next[0]!.starts_at.getTime());
      expect(expiredAt.get(tail.id), `term ${tail.id} ended unreplaced but never expired`).toBeDefined();
    }
  }
  for (const [termId, at] of expiredAt) {
    const t = byId.get(termId);
    expect(t?.replaced_at ?? null, `replaced term ${termId} was expired`).toBeNull();
    expect(at.getTime()).toBeGreaterThanOrEqual(t!.ends_at.getTime());
  }

  // The workflow holds the database's current term and status.
  const [site] =
    await sys.sql`select subscription_status, clock_offset_seconds from sites where id = ${siteId}`;
  const current = segments.at(-1)?.at(-1);
  const state = await querySubscriptionState(sys.temporal, siteId);
  expect(state.term?.id).toBe(current?.id);
  expect(state.status).toBe(site!.subscription_status);
  if (current) {
    const siteNow = Date.now() + Number(site!.clock_offset_seconds) * 1000;
    const ended = current.ends_at.getTime() <= siteNow;
    expect(site!.subscription_status).toBe(ended ? 'expired' : 'active');
    expect(expiredAt.has(current.id)).toBe(ended);
  }

  // Emails: one receipt per term answered 200, one expired email per expiry, nothing else of them.
  const ids = terms.map((t) => t.id);
  const mail = await sys.sql`select template, idempotency_key, status from sent_emails
    where template in ('redemption-receipt', 'subscription-expired', 'subscription-reminder')
      and split_part(idempotency_key, ':', 2) = any(${ids}::text[])`;
  const keys = (template: string) =>
    mail
      .filter((m) => m.template === template && m.status === 'sent')
      .map((m) => m.idempotency_key as string)
      .sort();
  expect(keys('redemption-receipt')).toEqual(ids.map((id) => `receipt:${id}`).sort());
  expect(keys('subscription-expired')).toEqual([...expiredAt.keys()].map((id) => `expired:${id}`).sort());
  expect(mail.filter((m) => m.status !== 'sent' && m.template !== 'subscription-reminder')).toEqual([]);

  // No continue-as-new storm: a run per expiry at most, besides the first.
  const runs = [];
  for await (const run of sys.temporal.workflow.list({
    query: `WorkflowId = "${subscriptionWorkflowId(siteId)}"`,
  }))
    runs.push(run.runId);
  expect(runs.length).toBeLessThanOrEqual(1 + expiredAt.size);
}

describe('subscription workflow under concurrency (N7)', () => {
  it('generated interleavings of redemptions, retries, clock moves, expiry and worker restarts keep the workflow and the database one chain', async () => {
    const started = Date.now();
    await fc.assert(fc.asyncProperty(scenarioArb, runScenario), {
      numRuns: RUNS,
      endOnFailure: true,
      ...(SEED === undefined ? {} : { seed: SEED, ...(PATH === undefined ? {} : { path: PATH }) }),
    });
    console.log(`[N7] ${interleavings} interleavings in ${Math.round((Date.now() - started) / 1000)} s`);
    expect(interleavings).toBe(RUNS);
  }, 900_000);
});
