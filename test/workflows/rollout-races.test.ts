/**
 * N7 for rollouts (issue 11): pause, resume and abort racing the end of a wave and the start of the
 * next, as generated interleavings (fast-check) on the Temporal dev server, with simulated IQs over
 * real TCP through a device gateway, support's requests through the HTTP API (the `control` update)
 * or as the bare signals the Temporal UI and CLI send. Every run must end in a state some serial
 * order of its controls gives:
 * - the database's status is the workflow's (its result and its `progress` query);
 * - the status log is a chain of controls applied one at a time (F5), ending in the final status;
 * - paused means no new update command: no update starts between a pause and the next resume;
 * - nothing starts after an abort is recorded;
 * - every update command an IQ received is one the database started, and the other way round;
 * - the counts add up to the planned IQs, every one of them final;
 * - support gets the report email once.
 *
 * KS_ROLLOUT_RACE_RUNS sets the number of runs (default 12); KS_ROLLOUT_RACE_SEED replays one.
 */
import { createHash } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rolloutStatusLog } from '../../db/queries/rollouts';
import { rollouts, rolloutTargets } from '../../db/schema';
import { afterControl, type RolloutControl, type RolloutStatus } from '../../domain/rollout';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { startFleet } from '../../iq-sim/fleet';
import { rolloutWorkflowId } from '../../workflows/ids';
import { abortSignal, pauseSignal, progressQuery, resumeSignal } from '../../workflows/rollout/messages';
import { LOOPBACK_FLEET_GUARD, seedSiteWithIqs } from '../gateway/helpers';
import { startTestSystem, type TestSystem } from '../support/system';

const RUNS = Number(process.env.KS_ROLLOUT_RACE_RUNS ?? 12);
const SEED = process.env.KS_ROLLOUT_RACE_SEED ? Number(process.env.KS_ROLLOUT_RACE_SEED) : undefined;
const IQS = 10;
/**
 * Waves of 2, 4 and 4 in a window of 2, then 4: the canary ends at 2 successes and wave 1 starts its
 * four IQs at once; wave 2 starts each of its IQs as one of those succeeds (up to 6 successes); the
 * rollout ends at 10.
 */
const POLICY = {
  canarySize: 2,
  growthFactor: 2,
  maxConcurrent: 4,
  retries: 0,
  inProgressTimeoutSeconds: 60,
  offlineDeadlineSeconds: 120,
  minFinishedBeforeAbort: 1_000,
};
const WAVE_ENDS = [2, 6, 10];

let sys: TestSystem;
let gateway: RunningGateway;
let support: { token: string };
let runs = 0;

beforeAll(async () => {
  sys = await startTestSystem({});
  gateway = await startGateway({
    db: sys.db,
    sql: sys.sql,
    ports: [0],
    instanceId: 'gw-rollout-races',
    heartbeatSeconds: 1,
    host: '127.0.0.1',
    guard: LOOPBACK_FLEET_GUARD,
  });
  support = await sys.signIn({ platformRole: 'support' });
});
afterAll(async () => {
  await gateway?.stop();
  await sys?.close();
});

interface Control {
  action: RolloutControl;
  /** Through the API (answered once recorded) or as a bare signal (fire and forget). */
  via: 'api' | 'signal';
  /** Sent once this many IQs succeeded (or the rollout stalls, paused, or ended)… */
  afterSucceeded: number;
  /** …and this much later. */
  delayMs: number;
  /** Sent at the same moment as the control before it. */
  together: boolean;
}

const control: fc.Arbitrary<Control> = fc.record({
  action: fc.constantFrom<RolloutControl>('pause', 'pause', 'resume', 'resume', 'abort'),
  via: fc.constantFrom<'api' | 'signal'>('api', 'signal'),
  // Mostly where a wave ends or starts.
  afterSucceeded: fc.oneof(fc.constantFrom(...WAVE_ENDS), fc.integer({ min: 0, max: IQS })),
  delayMs: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 600 })),
  together: fc.boolean(),
});

type ApiBody = { status?: RolloutStatus; code?: string };
type Answer = { via: 'api'; status: number; body: ApiBody } | { via: 'signal'; ended: boolean };

let versions = 0;
async function startRun(updateMs: number) {
  const site = await seedSiteWithIqs(sys.db, IQS, { name: 'Races' });
  const fleet = await startFleet({
    credentials: site.iqs.map((iq) => iq.credentials),
    ports: gateway.ports,
    host: '127.0.0.1',
    update: { durationMs: updateMs },
  });
  expect(fleet.failed).toEqual([]);
  const version = `5.${versions++}.0`;
  const post = async (path: string, body: unknown) => {
    const res = await sys.request('POST', path, { token: support.token, body });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const releaseId = await post('/support/firmware-releases', {
    model: 'IQ2',
    version,
    url: `ftps://files.ks.test/iq2-${version}.bin`,
    sha256: createHash('sha256').update(version).digest('hex'),
    sizeBytes: 1024,
  });
  const id = await post('/support/rollouts', {
    releaseId,
    target: { siteIds: [site.siteId] },
    policy: POLICY,
  });
  return { id, fleet, serials: new Map(site.iqs.map((iq) => [iq.credentials.serial, iq.id])) };
}

const SIGNALS = { pause: pauseSignal, resume: resumeSignal, abort: abortSignal } as const;

async function send(id: string, c: Pick<Control, 'action' | 'via'>): Promise<Answer> {
  if (c.via === 'api') {
    const res = await sys.request('POST', `/support/rollouts/${id}/${c.action}`, { token: support.token });
    return { via: 'api', status: res.status, body: (await res.json()) as ApiBody };
  }
  try {
    await sys.temporal.workflow.getHandle(rolloutWorkflowId(id)).signal(SIGNALS[c.action]);
    return { via: 'signal', ended: false };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return { via: 'signal', ended: true };
    throw error;
  }
}

/** Until `n` IQs succeeded, the rollout ended, or nothing moved for a second (paused). */
async function trigger(id: string, n: number) {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const [row] = await sys.sql<Array<{ succeeded: number; status: string }>>`
      select (select count(*)::int from rollout_targets where rollout_id = ${id} and state = 'succeeded') as succeeded,
        (select status from rollouts where id = ${id}) as status`;
    if (!row || row.succeeded >= n || row.status === 'completed' || row.status === 'aborted') return;
    if (row.succeeded !== last) [last, since] = [row.succeeded, Date.now()];
    else if (Date.now() - since > 1_000) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function runSchedule(schedule: Control[], updateMs: number) {
  const { id, fleet, serials } = await startRun(updateMs);
  try {
    const answers: Array<{ control: Control; answer: Answer }> = [];
    let group: Array<Promise<void>> = [];
    for (const c of schedule) {
      if (!c.together || group.length === 0) {
        await Promise.all(group);
        group = [];
        await trigger(id, c.afterSucceeded);
        await new Promise((r) => setTimeout(r, c.delayMs));
      }
      group.push(send(id, c).then((answer) => void answers.push({ control: c, answer })));
    }
    await Promise.all(group);
    // Whatever the schedule left paused is resumed, so every run ends.
    const closing = await send(id, { action: 'resume', via: 'api' });
    const handle = sys.temporal.workflow.getHandle(rolloutWorkflowId(id));
    const end = (await handle.result()) as {
      status: RolloutStatus;
      abortReason: string | null;
      planned: number;
    };
    await check(id, end, answers, closing, fleet, serials);
  } finally {
    await fleet.stop();
  }
}

async function check(
  id: string,
  end: { status: RolloutStatus; abortReason: string | null; planned: number },
  answers: Array<{ control: Control; answer: Answer }>,
  closing: Answer,
  fleet: Awaited<ReturnType<typeof startFleet>>,
  serials: Map<string, string>,
) {
  const [row] = await sys.db.select().from(rollouts).where(eq(rollouts.id, id));
  const query = await sys.temporal.workflow.getHandle(rolloutWorkflowId(id)).query(progressQuery);
  // The database's status is the workflow's.
  expect(end.status === 'completed' || end.status === 'aborted').toBe(true);
  expect(row!.status).toBe(end.status);
  expect(query.status).toBe(end.status);
  expect(row!.finishedAt).not.toBeNull();

  // The status log is a serial order: each change is a control applied to the status before it.
  const log = await rolloutStatusLog(sys.db, id);
  let status: RolloutStatus = 'running';
  for (const [i, change] of log.entries()) {
    const last = i === log.length - 1;
    const byControl = (['pause', 'resume', 'abort'] as const).some(
      (c) => afterControl(status, c) === change.status && change.status !== status,
    );
    // Paused with nothing left to start, a rollout completes as its last updates end.
    const byTheEnd = last && change.status === 'completed' && (status === 'running' || status === 'paused');
    expect(byControl || byTheEnd, `log ${JSON.stringify(log)}`).toBe(true);
    status = change.status;
  }
  expect(status).toBe(end.status);
  if (end.status === 'aborted') expect(row!.abortReason).toBe('support');

  // Starts happen only while running: none between a pause and the next change, none after an abort.
  const targets = await sys.db.select().from(rolloutTargets).where(eq(rolloutTargets.rolloutId, id));
  const started = targets.reduce((n, t) => n + t.attempts, 0);
  for (const [i, change] of log.entries()) {
    if (change.status === 'paused') {
      const next = log[i + 1];
      expect(next?.updatesStarted ?? started, `paused at ${JSON.stringify(change)}`).toBe(
        change.updatesStarted,
      );
    }
    if (change.status === 'aborted') expect(started).toBe(change.updatesStarted);
  }

  // The update commands the IQs received are the ones the database started (no retries here).
  const received = fleet.online.flatMap((iq) =>
    iq.received.flatMap((m) =>
      m.type === 'update' && m.updateId.startsWith(`${id}:`)
        ? [`${serials.get(iq.serial)} ${m.updateId}`]
        : [],
    ),
  );
  const startedIds = targets.filter((t) => t.attempts > 0).map((t) => `${t.iqId} ${t.updateId}`);
  expect([...new Set(received)].sort()).toEqual(startedIds.sort());
  expect(targets.every((t) => t.attempts <= 1)).toBe(true);

  // Counts add up: every planned IQ is final.
  expect(targets).toHaveLength(IQS);
  expect(end.planned).toBe(IQS);
  expect(targets.filter((t) => t.state === 'queued' || t.state === 'in_progress')).toEqual([]);
  if (end.status === 'completed') expect(targets.every((t) => t.state === 'succeeded')).toBe(true);

  // Answers agree with the serial order: a recorded control answered a status the log holds; an
  // abort answered by the API before the end means the rollout ended aborted.
  const seen = new Set<RolloutStatus>(['running', ...log.map((c) => c.status)]);
  for (const { control: c, answer } of [...answers, { control: { action: 'resume' }, answer: closing }]) {
    if (answer.via !== 'api') continue;
    if (answer.status === 200) {
      expect(seen.has(answer.body.status!)).toBe(true);
      if (c.action === 'abort') expect(end.status).toBe('aborted');
    } else {
      expect(answer).toMatchObject({ status: 409, body: { code: 'rollout_finished' } });
    }
  }

  // The report, once.
  const reports = (await sys.mailbox()).filter((m) => m.idempotencyKey === `rollout-report:${id}`);
  expect(reports).toHaveLength(1);
}

describe('rollout controls racing wave ends (N7, F5)', () => {
  it('every generated interleaving ends in a state some serial order gives', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(control, { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 150, max: 500 }),
        async (schedule, updateMs) => {
          runs++;
          await runSchedule(schedule, updateMs);
        },
      ),
      { numRuns: RUNS, endOnFailure: true, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
    console.log(`[rollout-races] ${runs} interleavings ran`);
    expect(runs).toBe(RUNS);
  }, 600_000);
});
