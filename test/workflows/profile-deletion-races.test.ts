/**
 * Issue 11 for profile deletion: owners' approvals and denials, support's cancel, the reminder and
 * deadline timers and a worker restart, as generated interleavings (fast-check) on the time-skipping
 * server, through the real HTTP API (consent pages, support endpoints) and a real PostgreSQL. Actions
 * of a group go at the same moment. Every run must end in the state the serial order of its recorded
 * answers gives:
 * - a cancel answered 200 → canceled; else a denial answered 200 → denied; else every site's approval
 *   answered 200 → completed; else timed_out;
 * - the database's status is the workflow's result and its `state` query;
 * - at most one answer per site is recorded (200), and it is the stored decision;
 * - the profile is deleted and the goodbye email sent once exactly when completed; support is told
 *   once exactly when denied or timed out; each owner gets at most one reminder;
 * - nothing is recorded after the end: every link and a cancel answered afterwards change nothing
 *   (410, 409).
 *
 * KS_DELETION_RACE_RUNS sets the number of runs (default 12); KS_DELETION_RACE_SEED (with
 * KS_DELETION_RACE_PATH, fast-check's `path` of a failure) replays one.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer, type Mailer } from '../../emails/mailer';
import { createTimeSkippingEnv } from '../../infra/temporal-servers';
import { queryProfileDeletion } from '../../workflows/client/profile-deletion';
import { profileDeletionWorkflowId } from '../../workflows/ids';
import { answer, consentToken, deletionStatus, fileDeletion, personInSites } from '../support/deletion';
import { DAY } from '../support/fixtures';
import { startTestSystem, type TestSystem } from '../support/system';

const RUNS = Number(process.env.KS_DELETION_RACE_RUNS ?? 12);
const SEED = process.env.KS_DELETION_RACE_SEED ? Number(process.env.KS_DELETION_RACE_SEED) : undefined;
const PATH = process.env.KS_DELETION_RACE_PATH;

let env: TestWorkflowEnvironment;
let sys: TestSystem;
/**
 * A support session that is valid now: the API's clock jumps days ahead with the server's, and a
 * session signed in before a jump has expired after it (A5), so each call signs in afresh.
 */
const supportToken = async () => (await sys.signIn({ platformRole: 'support' })).token;
/** The API's clock follows the time-skipping server's (links expire on the workflow's plan). */
let offsetMs = 0;
/** Emails that actually went out (not duplicates of an earlier send), by idempotency key. */
const sent = new Map<string, number>();
let runs = 0;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  sys = await startTestSystem({
    env,
    // A restarted worker must get the workflow tasks at once: no sticky queue on a frozen clock.
    uncachedWorker: true,
    now: () => new Date(Date.now() + offsetMs),
    mailer: (db) => {
      const inner = createMailer({ db, from: 'KS Cloud <test@ks.test>' });
      const count = (key: string) => sent.set(key, (sent.get(key) ?? 0) + 1);
      // The goodbye is queued in the deletion's transaction: without a provider, that row is its delivery.
      const counting: Mailer = {
        ...inner,
        async send(email) {
          const result = await inner.send(email);
          if (!result.duplicate) count(email.idempotencyKey);
          return result;
        },
        async queue(email, within) {
          const result = await inner.queue(email, within);
          if (result) count(email.idempotencyKey);
          return result;
        },
      };
      return counting;
    },
  });
});
afterAll(async () => {
  console.log(`[deletion races] ${runs} interleavings ran`);
  await sys?.close();
  await env?.teardown();
});

type Action =
  | { kind: 'answer'; site: number; decision: 'approve' | 'deny'; stale: boolean }
  | { kind: 'cancel' }
  | { kind: 'sleep'; ms: number }
  | { kind: 'restart' };
type Step = Action & { together: boolean };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('answer' as const),
      site: fc.nat({ max: 2 }),
      decision: fc.constantFrom<'approve' | 'deny'>('approve', 'approve', 'approve', 'deny'),
      stale: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'cancel' as const }) },
  // Around the reminder (day 7), the links' expiry (an hour before the deadline) and the deadline (day 30).
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('sleep' as const),
      ms: fc.constantFrom(60_000, DAY, 7 * DAY, 23 * DAY - 2 * 3_600_000, 23 * DAY, 31 * DAY),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'restart' as const }) },
);
const step: fc.Arbitrary<Step> = fc
  .tuple(action, fc.boolean())
  .map(([a, together]) => ({ ...a, together }) as Step);

/** The newest link of the site, or the first one when `stale`. */
async function link(requestId: string, siteId: string, stale: boolean): Promise<string> {
  if (stale) return consentToken(sys, requestId, siteId);
  const reminded = (await sys.mailbox()).some(
    (m) => m.idempotencyKey === `deletion-consent-reminder:${requestId}:${siteId}`,
  );
  return consentToken(sys, requestId, siteId, reminded ? 'reminder' : 'request');
}

async function syncClock() {
  offsetMs = (await env.currentTimeMs()) - Date.now();
}

async function run(siteCount: number, schedule: Step[]) {
  runs++;
  const startedAt = Date.now();
  try {
    await interleave(siteCount, schedule);
  } finally {
    console.log(`[deletion races] run ${runs}: ${Date.now() - startedAt} ms`);
  }
}

async function interleave(siteCount: number, schedule: Step[]) {
  const { person, sites } = await personInSites(sys, siteCount);
  const request = await fileDeletion(sys, await supportToken(), person.email);
  await Promise.all(sites.map((s) => consentToken(sys, request.id, s.id)));
  const answers: Array<{ siteId: string; decision: 'approve' | 'deny'; status: number }> = [];
  const cancels: number[] = [];
  let restarting = Promise.resolve();
  let sleeping = Promise.resolve();

  const perform = async (a: Action) => {
    switch (a.kind) {
      case 'answer': {
        const site = sites[a.site % sites.length]!;
        const res = await answer(sys, await link(request.id, site.id, a.stale), a.decision);
        answers.push({ siteId: site.id, decision: a.decision, status: res.status });
        return;
      }
      case 'cancel': {
        const res = await sys.request('POST', `/support/profile-deletions/${request.id}/cancel`, {
          token: await supportToken(),
        });
        cancels.push(res.status);
        return;
      }
      case 'sleep': {
        // Sleeps of one group end together at the later one's end, one server call at a time: the
        // time-skipping server's lock count goes wrong under concurrent unlockTimeSkippingWithSleep
        // calls and then holds time still while a sleep waits (seen as a hung run).
        const until = (await env.currentTimeMs()) + a.ms;
        sleeping = sleeping.then(async () => {
          const left = until - (await env.currentTimeMs());
          if (left > 0) await env.sleep(left);
        });
        await sleeping;
        await syncClock();
        return;
      }
      case 'restart':
        // One worker at a time on the task queue: restarts in one group queue up.
        restarting = restarting.then(async () => {
          await sys.stopWorker();
          await sys.startWorker();
        });
        await restarting;
        return;
    }
  };
  let group: Array<Promise<void>> = [];
  for (const s of schedule) {
    if (!s.together) {
      await Promise.all(group);
      group = [];
    }
    group.push(perform(s));
  }
  await Promise.all(group);

  const handle = sys.temporal.workflow.getHandle(profileDeletionWorkflowId(request.id));
  const end = (await handle.result()) as { status: string };
  await syncClock();

  // Answers are 200 (recorded) or 410 (link used, replaced, expired or its request ended); cancels
  // 200 or 409 once it ended.
  for (const a of answers) expect([200, 410]).toContain(a.status);
  for (const c of cancels) expect([200, 409]).toContain(c);
  const recorded = answers.filter((a) => a.status === 200);
  expect(new Set(recorded.map((a) => a.siteId)).size).toBe(recorded.length);
  expect(cancels.filter((c) => c === 200).length).toBeLessThanOrEqual(1);

  const expected = cancels.includes(200)
    ? 'canceled'
    : recorded.some((a) => a.decision === 'deny')
      ? 'denied'
      : sites.every((s) => recorded.some((a) => a.siteId === s.id))
        ? 'completed'
        : 'timed_out';
  expect(end.status).toBe(expected);
  const stored = await deletionStatus(sys, await supportToken(), request.id);
  expect(stored.status).toBe(expected);
  expect((await queryProfileDeletion(sys.temporal, request.id)).status).toBe(expected);
  for (const a of recorded) {
    expect(stored.sites).toContainEqual({
      siteId: a.siteId,
      decision: a.decision === 'approve' ? 'approved' : 'denied',
    });
  }
  for (const s of stored.sites) {
    if (s.decision !== 'pending') expect(recorded.map((a) => a.siteId)).toContain(s.siteId);
  }

  const [profile] = await sys.sql`select count(*)::int as n from profiles where id = ${person.id}`;
  expect(profile?.n).toBe(expected === 'completed' ? 0 : 1);
  expect(sent.get(`profile-deleted:${request.id}`) ?? 0).toBe(expected === 'completed' ? 1 : 0);
  expect(sent.get(`deletion-outcome:${request.id}`) ?? 0).toBe(
    expected === 'denied' || expected === 'timed_out' ? 1 : 0,
  );
  for (const s of sites) {
    expect(sent.get(`deletion-consent-request:${request.id}:${s.id}`)).toBe(1);
    expect(sent.get(`deletion-consent-reminder:${request.id}:${s.id}`) ?? 0).toBeLessThanOrEqual(1);
  }

  // Nothing recorded after the end, and nothing recordable.
  expect(stored.finishedAt).not.toBeNull();
  const before = JSON.stringify(
    await sys.sql`select * from deletion_consents where request_id = ${request.id} order by site_id`,
  );
  for (const s of sites) {
    expect((await answer(sys, await link(request.id, s.id, false), 'approve')).status).toBe(410);
  }
  const cancel = await sys.request('POST', `/support/profile-deletions/${request.id}/cancel`, {
    token: await supportToken(),
  });
  expect(cancel.status).toBe(409);
  expect(
    JSON.stringify(
      await sys.sql`select * from deletion_consents where request_id = ${request.id} order by site_id`,
    ),
  ).toBe(before);
}

describe('profile deletion under racing answers, cancels, timers and a worker restart', () => {
  it('every interleaving ends in the state its serial order gives', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.array(step, { minLength: 1, maxLength: 7 }), run),
      {
        numRuns: RUNS,
        ...(SEED === undefined ? {} : { seed: SEED, ...(PATH === undefined ? {} : { path: PATH }) }),
        endOnFailure: true,
        timeout: 180_000,
      },
    );
    expect(runs).toBeGreaterThanOrEqual(RUNS);
  }, 1_200_000);
});
