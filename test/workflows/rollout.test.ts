import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { insertRollout, resolveTargets, setRolloutStatus } from '../../db/queries/rollouts';
import { iqs, rolloutTargets } from '../../db/schema';
import { DEFAULT_POLICY, windowLimit } from '../../domain/rollout';
import { startFleet } from '../../iq-sim/fleet';
import type { IqCredentials } from '../../iq-sim/iq';
import { rolloutWorkflowId } from '../../workflows/ids';
import { progressQuery, wakeSignal } from '../../workflows/rollout/messages';
import { rolloutWaveWorkflow, rolloutWorkflow } from '../../workflows/rollout/workflow';
import { eventually, rawClient, seedSiteWithIqs } from '../gateway/helpers';
import { type Body, rolloutHarness } from './rollout-harness';

const h = rolloutHarness({ instanceId: 'gw-rollout-test', versionMajor: 2 });
const { call, release, startRollout, result, fleets } = h;

/** `count` IQs at a new site, written straight to the database; credentials sorted by IQ id (= rollout order). */
async function seedSite(count: number, timezone = 'UTC') {
  const { siteId, iqs: seeded } = await seedSiteWithIqs(h.sys.db, count, { name: 'Rollout test', timezone });
  return { siteId, iqs: seeded.sort((x, y) => (x.id < y.id ? -1 : 1)) };
}

async function connect(credentials: IqCredentials[], update: { durationMs: number; failureRate?: number }) {
  // A loaded machine answers 200 hellos at once slowly: the IQs wait for their welcome longer.
  const fleet = await startFleet({
    credentials,
    ports: h.gateway.ports,
    host: '127.0.0.1',
    update,
    connectTimeoutMs: 60_000,
  });
  fleets.push(fleet);
  expect(fleet.failed).toEqual([]);
  return fleet;
}

const fast = { inProgressTimeoutSeconds: 20, retries: 0, offlineDeadlineSeconds: 60 };

const progress = async (id: string) => (await call('GET', `/support/rollouts/${id}`)).body;
const targets = (rolloutId: string) =>
  h.sys.db.select().from(rolloutTargets).where(eq(rolloutTargets.rolloutId, rolloutId));

describe('firmware rollout over simulated IQs (F3–F7)', () => {
  it('defines releases once per model and version, for support only', async () => {
    const body = {
      model: 'IQ9',
      version: '1.0.0',
      url: 'ftps://files.ks.test/iq9.bin',
      sha256: 'a'.repeat(64),
      sizeBytes: 1,
    };
    const first = await call('POST', '/support/firmware-releases', body);
    expect(first.status).toBe(201);
    // The 409 names the release already there, so a client can go on with it.
    expect(await call('POST', '/support/firmware-releases', body)).toMatchObject({
      status: 409,
      body: { code: 'release_exists', existingId: first.body.id },
    });
    const later = await call('POST', '/support/firmware-releases', { ...body, version: '1.0.1' });
    const listed = await call('GET', '/support/firmware-releases');
    expect(listed.status).toBe(200);
    const releases = listed.body.releases as Array<Body>;
    expect(releases.slice(0, 2)).toEqual([
      { id: later.body.id, model: 'IQ9', version: '1.0.1', createdAt: expect.any(String) },
      { id: first.body.id, model: 'IQ9', version: '1.0.0', createdAt: expect.any(String) },
    ]);
    expect(new Date(releases[1]!.createdAt as string).toISOString()).toBe(releases[1]!.createdAt);
    const other = await h.sys.signIn();
    const res = await h.sys.request('POST', '/support/rollouts', {
      token: other.token,
      body: { releaseId: randomUUID(), target: { model: 'IQ9' } },
    });
    expect(res.status).toBe(403);
    expect(
      (await call('POST', '/support/rollouts', { releaseId: randomUUID(), target: { model: 'IQ9' } })).body
        .code,
    ).toBe('release_not_found');
    const bad = await call('POST', '/support/rollouts', {
      releaseId: randomUUID(),
      target: {},
      policy: { maintenanceWindow: { start: '25:00', end: '05:00' } },
    });
    expect(bad.status).toBe(400);
    expect((bad.body.errors as Array<{ path: string }>).map((e) => e.path).sort()).toEqual([
      'body.policy.maintenanceWindow.start',
      'body.target',
    ]);
    const doc = (await (await h.sys.request('GET', '/openapi.json')).json()) as {
      components?: unknown;
      paths: Record<string, { post: { requestBody: { content: { 'application/json': { schema: Body } } } } }>;
    };
    const schema = JSON.stringify(doc.paths['/support/rollouts']!.post.requestBody);
    for (const field of [
      'canarySize',
      'growthFactor',
      'maxConcurrent',
      'failureThresholdPercent',
      'retries',
    ]) {
      expect(schema).toContain(field);
    }
    expect(schema).toContain('"default":900');
  });

  let main: Awaited<ReturnType<typeof seedSite>>;

  it('updates 200 IQs in waves; all succeed; IQs already on the version are skipped; support gets a report', async () => {
    main = await seedSite(200);
    await connect(
      main.iqs.map((i) => i.credentials),
      { durationMs: 300 },
    );
    const rel = await release();
    // Two extra IQs already on the version: counted as skipped, never sent anything.
    const current = await seedSite(2);
    const already = await connect(
      current.iqs.map((i) => ({ ...i.credentials, firmware: rel.version })),
      { durationMs: 300 },
    );
    const id = await startRollout({
      releaseId: rel.id,
      target: { siteIds: [main.siteId, current.siteId] },
      policy: fast,
    });
    const end = (await result(id)) as { status: string; wave: number };
    const releaseRef = { id: rel.id, model: 'IQ2', version: rel.version };
    expect(end).toMatchObject({ status: 'completed', wave: 7, planned: 200, release: releaseRef });
    const read = await progress(id);
    // Waves of 5, 10, 20, 40, 50, 50, 25: it ended in wave 6 (rollout-<id>-wave-6).
    expect(read).toEqual({
      id,
      status: 'completed',
      abortReason: null,
      release: releaseRef,
      wave: 6,
      planned: 200,
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
      counts: { queued: 0, inProgress: 0, succeeded: 200, failed: 0, timedOut: 0, skipped: 2, canceled: 0 },
      failures: [],
    });
    const started = Date.parse(read.startedAt as string);
    expect(new Date(started).toISOString()).toBe(read.startedAt);
    expect(Date.parse(read.finishedAt as string)).toBeGreaterThan(started);
    // The query answers ISO times too, and the release.
    const queried = await h.sys.temporal.workflow.getHandle(rolloutWorkflowId(id)).query(progressQuery);
    expect(queried).toMatchObject({ status: 'completed', release: releaseRef, wave: 7, planned: 200 });
    expect(new Date(queried.startedAt!).toISOString()).toBe(queried.startedAt);
    expect(new Date(queried.finishedAt!).toISOString()).toBe(queried.finishedAt);
    expect(Math.abs(Date.parse(queried.startedAt!) - started)).toBeLessThan(60_000);
    // Temporal user metadata: the workflow's and each wave's summary, and the activities'.
    const described = await h.sys.temporal.workflow.getHandle(rolloutWorkflowId(id)).describe();
    expect(await described.staticSummary()).toContain('Firmware rollout');
    const canary = await h.sys.temporal.workflow.getHandle(`${rolloutWorkflowId(id)}-wave-0`).describe();
    expect(await canary.staticSummary()).toBe('wave 0: IQs 1–5 of 200');
    const history = JSON.stringify(
      (await h.sys.temporal.workflow.getHandle(rolloutWorkflowId(id)).fetchHistory()).events,
    );
    expect(history).toContain('userMetadata');
    const rows = await h.sys.db
      .select({ firmware: iqs.firmware })
      .from(iqs)
      .where(eq(iqs.siteId, main.siteId));
    expect(new Set(rows.map((r) => r.firmware))).toEqual(new Set([rel.version]));
    expect(already.online.every((iq) => !iq.received.some((m) => m.type === 'update'))).toBe(true);
    const mail = (await h.sys.mailbox()).filter((m) => m.template === 'rollout-report');
    expect(mail).toHaveLength(1);
    expect(mail[0]!.to).toBe('support@ks.test');
    expect(mail[0]!.text).toContain(id);
    expect(mail[0]!.subject).toBe(`Firmware IQ2 ${rel.version} rollout completed`);
    expect(mail[0]!.text).toContain(`The rollout of firmware IQ2 ${rel.version} completed.`);
    expect(mail[0]!.text).toContain('Succeeded 200');
    expect(mail[0]!.text).not.toContain('Failed IQs');
  });

  it('pause stops new updates, resume carries on to the end', async () => {
    const rel = await release();
    const id = await startRollout({ releaseId: rel.id, target: { siteIds: [main.siteId] }, policy: fast });
    await eventually(async () => {
      const counts = (await progress(id)).counts as Body;
      expect(counts.succeeded).toBeGreaterThanOrEqual(15);
    }, 30_000);
    // Answered once recorded: the database and the workflow say paused as soon as the POST returns.
    expect(await call('POST', `/support/rollouts/${id}/pause`)).toEqual({
      status: 200,
      body: { id, status: 'paused' },
    });
    const handle = h.sys.temporal.workflow.getHandle(rolloutWorkflowId(id));
    expect((await progress(id)).status).toBe('paused');
    expect((await handle.query(progressQuery)).status).toBe('paused');
    expect((await call('POST', `/support/rollouts/${id}/pause`)).body).toEqual({ id, status: 'paused' });
    await eventually(async () => {
      expect(((await progress(id)).counts as Body).inProgress).toBe(0);
    }, 20_000);
    const held = (await progress(id)).counts as Body;
    expect(held.queued).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await progress(id)).counts).toEqual(held);
    const search = await handle.describe();
    expect(search.typedSearchAttributes.getAll().find((p) => p.key.name === 'RolloutStatus')?.value).toBe(
      'paused',
    );
    // Findable as paused: by the search attribute in Temporal's visibility, and in the API's list.
    await eventually(async () => {
      const found: string[] = [];
      for await (const w of h.sys.temporal.workflow.list({ query: `RolloutStatus = "paused"` })) {
        found.push(w.workflowId);
      }
      expect(found).toContain(rolloutWorkflowId(id));
    }, 20_000);
    const paused = await call('GET', '/support/rollouts?status=paused');
    expect((paused.body.rollouts as Body[]).map((r) => r.id)).toContain(id);
    expect(
      ((await call('GET', '/support/rollouts?status=completed&limit=200')).body.rollouts as Body[]).map(
        (r) => r.id,
      ),
    ).not.toContain(id);

    expect((await call('POST', `/support/rollouts/${id}/resume`)).body).toEqual({ id, status: 'running' });
    expect((await handle.query(progressQuery)).status).toBe('running');
    expect(await result(id)).toMatchObject({ status: 'completed' });
    expect((await progress(id)).counts).toMatchObject({ succeeded: 200, queued: 0, canceled: 0 });
    expect((await call('POST', `/support/rollouts/${id}/pause`)).body.code).toBe('rollout_finished');
  });

  it('with 20% failing it aborts at the threshold; the IQs in flight end canceled, a late success changes nothing', async () => {
    const site = await seedSite(200);
    // Rollout order is by IQ id: the canary (positions 0–4) is good, then every fifth IQ fails, fast.
    const bad = site.iqs.filter((_, i) => i >= 5 && i % 5 === 0);
    const good = site.iqs.filter((_, i) => !(i >= 5 && i % 5 === 0));
    expect(bad.length / site.iqs.length).toBeCloseTo(0.2, 1);
    await connect(
      bad.map((i) => i.credentials),
      { durationMs: 200, failureRate: 1 },
    );
    await connect(
      good.map((i) => i.credentials),
      { durationMs: 2_000 },
    );
    const rel = await release();
    const id = await startRollout({
      releaseId: rel.id,
      target: { siteIds: [site.siteId] },
      policy: { ...fast, minFinishedBeforeAbort: 5, failureThresholdPercent: 10 },
    });
    const end = (await result(id)) as { wave: number };
    expect(end).toMatchObject({ status: 'aborted', abortReason: 'failure_threshold' });
    // The canary ended, wave 1 started all its IQs and handed back; the failures were seen after it
    // (by the workflow's check) or in wave 2 (which had no free slot to start anything in).
    expect([2, 3]).toContain(end.wave);
    const p = await progress(id);
    // Canary: 5 succeeded; wave 1 (positions 5–14): 2 failed fast, its 8 good IQs were still installing.
    expect(p).toMatchObject({
      status: 'aborted',
      abortReason: 'failure_threshold',
      counts: { succeeded: 5, failed: 2, inProgress: 0, queued: 0, canceled: 193, timedOut: 0 },
    });
    expect(p).toMatchObject({ wave: 1, planned: 200, finishedAt: expect.any(String) });
    const failure = (iq: (typeof bad)[number]) => ({
      iqId: iq.id,
      serial: iq.credentials.serial,
      siteId: site.siteId,
      error: 'install_failed',
      attempts: 1,
    });
    expect(p.failures).toEqual(expect.arrayContaining([failure(bad[0]!), failure(bad[1]!)]));
    expect(p.failures).toHaveLength(2);
    const [mail] = (await h.sys.mailbox()).filter((m) => m.idempotencyKey === `rollout-report:${id}`);
    expect(mail!.subject).toBe(
      `Firmware IQ2 ${rel.version} rollout aborted (failure_threshold) with 2 failures`,
    );
    for (const iq of bad.slice(0, 2)) {
      expect(mail!.text).toContain(
        `${iq.credentials.serial}, site ${site.siteId}: install_failed, 1 attempt`,
      );
    }
    const inFlight = site.iqs.slice(5, 15).filter((i) => !bad.includes(i));
    // Those 8 finish installing and come back on the new version: their targets stay canceled.
    await eventually(async () => {
      const rows = await h.sys.db
        .select({ id: iqs.id, firmware: iqs.firmware, online: iqs.online })
        .from(iqs);
      const back = rows.filter(
        (r) => inFlight.some((i) => i.id === r.id) && r.firmware === rel.version && r.online,
      );
      expect(back).toHaveLength(8);
    }, 20_000);
    const after = await targets(id);
    for (const iq of inFlight) expect(after.find((t) => t.iqId === iq.id)?.state).toBe('canceled');
    expect((await progress(id)).counts).toEqual(p.counts);
  });

  it('an IQ offline past the deadline ends timed_out; the others succeed', async () => {
    const site = await seedSite(3);
    const [offline, ...online] = site.iqs;
    await connect(
      online.map((i) => i.credentials),
      { durationMs: 200 },
    );
    const rel = await release();
    const id = await startRollout({
      releaseId: rel.id,
      target: { iqIds: site.iqs.map((i) => i.id) },
      policy: { ...fast, offlineDeadlineSeconds: 3 },
    });
    expect(await result(id)).toMatchObject({ status: 'completed' });
    expect((await progress(id)).counts).toMatchObject({ succeeded: 2, timedOut: 1, failed: 0 });
    const [row] = await h.sys.db
      .select()
      .from(rolloutTargets)
      .where(and(eq(rolloutTargets.rolloutId, id), eq(rolloutTargets.iqId, offline!.id)));
    expect(row).toMatchObject({ state: 'timed_out', attempts: 0 });
  });

  it('a late or duplicate device report changes nothing and nothing is sent again (F6)', async () => {
    const site = await seedSite(2);
    const [failing, passing] = site.iqs;
    const rel = await release();
    const hello = (i: (typeof site.iqs)[number], firmware: string) =>
      `${JSON.stringify({ type: 'hello', ...i.credentials, firmware, accessVersion: 0 })}\n`;
    const device = async (i: (typeof site.iqs)[number], firmware = '1.0.0') => {
      const raw = await rawClient(h.gateway.ports[0]!);
      const beat = setInterval(() => raw.write('{"type":"heartbeat"}\n'), 300);
      raw.socket.once('close', () => clearInterval(beat));
      raw.write(hello(i, firmware));
      expect(await raw.next()).toMatchObject({ type: 'welcome' });
      return raw;
    };
    const a = await device(failing!);
    const b = await device(passing!);
    const id = await startRollout({
      releaseId: rel.id,
      target: { siteIds: [site.siteId] },
      policy: { ...fast, retries: 2, minFinishedBeforeAbort: 100 },
    });
    const ua = (await a.next(15_000)) as { type: string; updateId: string };
    const ub = (await b.next(15_000)) as { type: string; updateId: string };
    expect([ua.type, ub.type]).toEqual(['update', 'update']);

    const status = (updateId: string, state: string, error?: string) =>
      `${JSON.stringify({ type: 'update-status', updateId, state, ...(error ? { error } : {}) })}\n`;
    a.write(status(ua.updateId, 'failed', 'checksum_mismatch'));
    b.write(status(ub.updateId, 'installing'));
    b.socket.destroy();
    const b2 = await device(passing!, rel.version);
    expect(await result(id)).toMatchObject({ status: 'completed' });
    const settled = await targets(id);
    expect(settled.map((t) => [t.iqId, t.state, t.error, t.attempts]).sort()).toEqual(
      [
        [failing!.id, 'failed', 'checksum_mismatch', 1],
        [passing!.id, 'succeeded', null, 1],
      ].sort(),
    );

    // Late and repeated reports: a failure for the succeeded IQ, the failure again with another error,
    // and the failed IQ coming back on the new version.
    b2.write(status(ub.updateId, 'failed', 'install_failed'));
    a.write(status(ua.updateId, 'failed', 'other'));
    a.socket.destroy();
    const a2 = await device(failing!, rel.version);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await targets(id)).toEqual(settled);
    await expect(a2.next(500)).rejects.toThrow();
    await expect(b2.next(500)).rejects.toThrow();
    expect((await progress(id)).counts).toMatchObject({ succeeded: 1, failed: 1 });
    const [mail] = (await h.sys.mailbox()).filter((m) => m.idempotencyKey === `rollout-report:${id}`);
    expect(mail!.text).toContain(`The rollout of firmware IQ2 ${rel.version} completed with 1 failure.`);
    expect(mail!.text).toContain(
      `${failing!.credentials.serial}, site ${site.siteId}: checksum_mismatch, 1 attempt`,
    );
    expect(mail!.text).not.toContain(passing!.credentials.serial);
    a2.socket.destroy();
    b2.socket.destroy();
  });

  it('slides: the canary runs alone, a slow IQ holds back no later wave, the window grows with finished IQs (issue 15)', async () => {
    const site = await seedSite(40);
    // Rollout order is by IQ id: position 2 (wave 1's first IQ) takes 8 s, every other IQ 300 ms.
    const [slow] = site.iqs.slice(2, 3);
    await connect([slow!.credentials], { durationMs: 8_000 });
    await connect(
      site.iqs.filter((i) => i !== slow).map((i) => i.credentials),
      { durationMs: 300 },
    );
    const rel = await release();
    const policy = { ...fast, canarySize: 2, growthFactor: 2, maxConcurrent: 8 };
    const id = await startRollout({ releaseId: rel.id, target: { siteIds: [site.siteId] }, policy });
    // Waves of 2, 4, 8, 8, 8, 8, 2.
    expect(await result(id)).toMatchObject({ status: 'completed', wave: 7, counts: { succeeded: 40 } });
    const rows = (await targets(id)).map((t) => ({
      position: t.position,
      started: t.startedAt!.getTime(),
      finished: t.finishedAt!.getTime(),
    }));
    const at = (position: number) => rows.find((r) => r.position === position)!;
    // The canary alone: nothing else started before both canary IQs finished.
    const canaryDone = Math.max(at(0).finished, at(1).finished);
    expect(rows.filter((r) => r.position >= 2).every((r) => r.started >= canaryDone)).toBe(true);
    // Sliding: all of wave 2 (positions 6–13) started while the slow IQ of wave 1 was still updating.
    const slowRow = at(2);
    for (let position = 6; position < 14; position++) {
      expect(at(position).started, `position ${position}`).toBeLessThan(slowRow.finished);
    }
    // At every start, the IQs updating (started, not yet finished) fit the window that the IQs
    // finished by then allow (the activity records both with the same clock reading per look).
    for (const r of rows) {
      const updating = rows.filter((o) => o.started <= r.started && r.started < o.finished).length;
      const finished = rows.filter((o) => o.finished <= r.started).length;
      expect(updating, `at position ${r.position}`).toBeLessThanOrEqual(
        windowLimit(finished, { ...DEFAULT_POLICY, ...policy }),
      );
    }
  });

  it('slides past an offline IQ of a middle wave: later positions start as slots free, it waits out its deadline (F4)', async () => {
    const site = await seedSite(20);
    // Rollout order is by IQ id: position 2 (wave 1's first IQ) stays offline.
    const [offline] = site.iqs.slice(2, 3);
    await connect(
      site.iqs.filter((i) => i !== offline).map((i) => i.credentials),
      { durationMs: 200 },
    );
    const rel = await release();
    const policy = { ...fast, canarySize: 2, growthFactor: 2, maxConcurrent: 8, offlineDeadlineSeconds: 12 };
    const id = await startRollout({ releaseId: rel.id, target: { siteIds: [site.siteId] }, policy });
    expect(await result(id)).toMatchObject({
      status: 'completed',
      counts: { succeeded: 19, timedOut: 1, failed: 0 },
    });
    const rows = await targets(id);
    const at = (position: number) => rows.find((r) => r.position === position)!;
    const canaryDone = Math.max(at(0).finishedAt!.getTime(), at(1).finishedAt!.getTime());
    const timedOut = at(2);
    expect(timedOut).toMatchObject({ iqId: offline!.id, state: 'timed_out', attempts: 0 });
    // Before, waves 2 and 3 (positions 6–19) waited for the offline IQ's deadline to start at all.
    const online = rows.filter((r) => r.position !== 2);
    for (const r of online) {
      expect(r.finishedAt!.getTime(), `position ${r.position}`).toBeLessThan(timedOut.finishedAt!.getTime());
    }
    // Its deadline is never shortened: it counts from its wave's start, after the canary finished.
    expect(timedOut.finishedAt!.getTime() - canaryDone).toBeGreaterThanOrEqual(12_000);
    // The canary still ran alone, and the window held at every start.
    expect(online.filter((r) => r.position >= 2).every((r) => r.startedAt!.getTime() >= canaryDone)).toBe(
      true,
    );
    for (const r of online) {
      const started = r.startedAt!.getTime();
      const updating = online.filter(
        (o) => o.startedAt!.getTime() <= started && started < o.finishedAt!.getTime(),
      ).length;
      const finished = online.filter((o) => o.finishedAt!.getTime() <= started).length;
      expect(updating, `at position ${r.position}`).toBeLessThanOrEqual(
        windowLimit(finished, { ...DEFAULT_POLICY, ...policy }),
      );
    }
  });

  it('continues as new between waves and carries its progress (N5)', async () => {
    const site = await seedSite(20);
    await connect(
      site.iqs.map((i) => i.credentials),
      { durationMs: 100 },
    );
    const rel = await release();
    const rollout = await insertRollout(h.sys.db, {
      releaseId: rel.id,
      target: { siteIds: [site.siteId] },
      policy: { ...DEFAULT_POLICY, ...fast, canarySize: 1 },
    });
    const first = await h.sys.temporal.workflow.start(rolloutWorkflow, {
      workflowId: rolloutWorkflowId(rollout.id),
      taskQueue: h.sys.taskQueue,
      args: [{ rolloutId: rollout.id, maxHistoryEvents: 10 }],
    });
    const handle = h.sys.temporal.workflow.getHandle(rolloutWorkflowId(rollout.id));
    // Waves 1, 2, 4, 8, 5: a new run after each.
    expect(await handle.result()).toMatchObject({ status: 'completed', wave: 5, counts: { succeeded: 20 } });
    expect((await handle.describe()).runId).not.toBe(first.firstExecutionRunId);
    expect((await handle.fetchHistory()).events!.length).toBeLessThan(60);
  });

  /** Every run of `workflowId` with its history's length, once visibility has them all closed. */
  async function runsOf(workflowId: string, atLeast: number) {
    let runs: Array<{ runId: string; historyLength: number }> = [];
    await eventually(async () => {
      runs = [];
      for await (const run of h.sys.temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
        expect(run.status.name).not.toBe('RUNNING');
        runs.push({ runId: run.runId, historyLength: run.historyLength });
      }
      expect(runs.length).toBeGreaterThanOrEqual(atLeast);
    }, 30_000);
    return runs;
  }

  it('continues as new inside a wave while pauses and resumes grow its history (N5)', async () => {
    const site = await seedSite(2);
    // Position 0 stays offline: the canary waits for it (its deadline an hour away) until the abort.
    const [offline, online] = site.iqs;
    await connect([online!.credentials], { durationMs: 100 });
    const rel = await release();
    const rollout = await insertRollout(h.sys.db, {
      releaseId: rel.id,
      target: { siteIds: [site.siteId] },
      policy: { ...DEFAULT_POLICY, ...fast, offlineDeadlineSeconds: 3600 },
    });
    const { id } = rollout;
    const limit = 60;
    await h.sys.temporal.workflow.start(rolloutWorkflow, {
      workflowId: rolloutWorkflowId(id),
      taskQueue: h.sys.taskQueue,
      args: [{ rolloutId: id, maxHistoryEvents: limit }],
    });
    await eventually(async () => expect((await progress(id)).counts).toMatchObject({ succeeded: 1 }), 30_000);
    // Each pause and resume adds about 30 events to the rollout's history: before, all in one run.
    for (let cycle = 0; cycle < 10; cycle++) {
      expect((await call('POST', `/support/rollouts/${id}/pause`)).status).toBe(200);
      expect((await call('POST', `/support/rollouts/${id}/resume`)).status).toBe(200);
    }
    expect(await call('POST', `/support/rollouts/${id}/abort`)).toMatchObject({
      status: 200,
      body: { status: 'aborted' },
    });
    // Its wave: 1 when the abort ended wave 0, 0 when it came during a hand-over (the next run does
    // not start the wave again): either way the counts below.
    expect(await result(id)).toMatchObject({
      status: 'aborted',
      counts: { succeeded: 1, canceled: 1, queued: 0, inProgress: 0 },
    });
    const [row] = await h.sys.db
      .select()
      .from(rolloutTargets)
      .where(and(eq(rolloutTargets.rolloutId, id), eq(rolloutTargets.iqId, offline!.id)));
    expect(row).toMatchObject({ state: 'canceled', attempts: 0 });
    // Several runs, none far past the limit: a hand-over adds the wave's cancel and the controls
    // that came while it stopped (two or three cycles when they come as fast as here: 130 and 131
    // events seen). One run held all ten cycles before: about 310 events, at 29 a cycle.
    const runs = await runsOf(rolloutWorkflowId(id), 3);
    for (const run of runs) expect(run.historyLength, run.runId).toBeLessThan(3 * limit);
    // The canary was started again by each run, and ran to its end once.
    const waves = await runsOf(`${rolloutWorkflowId(id)}-wave-0`, runs.length);
    for (const run of waves) expect(run.historyLength, run.runId).toBeLessThan(2 * limit);
  });

  it('a wave continues as new when its waits grow its history (N5)', async () => {
    const site = await seedSite(1);
    const rel = await release();
    const policy = { ...DEFAULT_POLICY, ...fast, offlineDeadlineSeconds: 3600 };
    const { id } = await insertRollout(h.sys.db, {
      releaseId: rel.id,
      target: { siteIds: [site.siteId] },
      policy,
    });
    await resolveTargets(h.sys.db, id);
    await setRolloutStatus(h.sys.db, id, 'paused');
    const workflowId = `${rolloutWorkflowId(id)}-wave-0`;
    const limit = 20;
    const first = await h.sys.temporal.workflow.start(rolloutWaveWorkflow, {
      workflowId,
      taskQueue: h.sys.taskQueue,
      args: [
        {
          rolloutId: id,
          from: 0,
          to: 1,
          policy,
          startedAtMs: Date.now(),
          sliding: { last: true },
          maxHistoryEvents: limit,
        },
      ],
    });
    const wave = h.sys.temporal.workflow.getHandle(workflowId);
    // Paused with nothing in flight: each wake is a look and a wait, about 8 events.
    for (let wake = 0; wake < 8; wake++) {
      const before = await wave.describe();
      await wave.signal(wakeSignal);
      await eventually(async () => {
        const now = await wave.describe();
        expect(now.runId !== before.runId || now.historyLength > before.historyLength + 5).toBe(true);
      });
    }
    expect((await wave.describe()).runId).not.toBe(first.firstExecutionRunId);
    await setRolloutStatus(h.sys.db, id, 'aborted', 'support');
    await wave.signal(wakeSignal);
    expect(await wave.result()).toMatchObject({ outcome: 'aborted' });
    // A look and a wait or two past the limit, the wakes that came meanwhile on a busy machine.
    const runs = await runsOf(workflowId, 2);
    for (const run of runs) expect(run.historyLength, run.runId).toBeLessThan(2 * limit);
  });

  it('lists rollouts newest first, by status, a page at a time (F5)', async () => {
    const site = await seedSite(1);
    const rel = await release();
    // Nothing connects: each waits for its offline IQ; aborted at once, they end without one update.
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = await startRollout({
        releaseId: rel.id,
        target: { siteIds: [site.siteId] },
        policy: fast,
      });
      expect((await call('POST', `/support/rollouts/${id}/abort`)).body).toEqual({ id, status: 'aborted' });
      await result(id);
      ids.unshift(id);
    }
    const seen: Body[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(
        'GET',
        `/support/rollouts?status=aborted&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      const rows = page.body.rollouts as Body[];
      expect(rows.length).toBeLessThanOrEqual(2);
      seen.push(...rows);
      cursor = page.body.nextCursor as string | null;
    } while (cursor);
    expect(seen.every((r) => r.status === 'aborted')).toBe(true);
    expect(new Set(seen.map((r) => r.id)).size).toBe(seen.length);
    // Newest first: the three just started lead, in the order they were started, latest first.
    expect(seen.slice(0, 3).map((r) => r.id)).toEqual(ids);
    expect(seen[0]).toEqual({
      id: ids[0],
      status: 'aborted',
      release: { model: 'IQ2', version: rel.version },
      startedAt: expect.any(String),
      counts: { queued: 0, inProgress: 0, succeeded: 0, failed: 0, timedOut: 0, skipped: 0, canceled: 1 },
    });
    const bad = await call('GET', '/support/rollouts?cursor=nope&limit=0&status=done');
    expect(bad.status).toBe(400);
    expect((bad.body.errors as Array<{ path: string }>).map((e) => e.path).sort()).toEqual([
      'query.cursor',
      'query.limit',
      'query.status',
    ]);
  });
});
