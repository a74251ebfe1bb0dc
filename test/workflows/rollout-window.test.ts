import { createHash } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rolloutTargets } from '../../db/schema';
import { insideWindow } from '../../domain/rollout';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { createTimeSkippingEnv } from '../../infra/temporal-servers';
import { type Fleet, startFleet } from '../../iq-sim/fleet';
import { rolloutWorkflowId } from '../../workflows/ids';
import { eventually, LOOPBACK_FLEET_GUARD, seedSiteWithIqs } from '../gateway/helpers';
import { startTestSystem, type TestSystem } from '../support/system';

let env: TestWorkflowEnvironment;
let sys: TestSystem;
let gateway: RunningGateway;
let fleet: Fleet | undefined;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  sys = await startTestSystem({ env });
  gateway = await startGateway({
    guard: LOOPBACK_FLEET_GUARD,
    db: sys.db,
    sql: sys.sql,
    ports: [0],
    instanceId: 'gw-rollout-window',
    heartbeatSeconds: 1,
    host: '127.0.0.1',
  });
});
afterAll(async () => {
  await fleet?.stop();
  await gateway?.stop();
  await sys?.close();
  await env?.teardown();
});

const HOUR = 3_600_000;
const hhmm = (ms: number, timeZone: string) =>
  new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit' }).format(
    new Date(ms),
  );

describe('maintenance window on the time-skipping server (F7)', () => {
  it('waits, in workflow time, until each site’s window opens, and updates only inside it', async () => {
    const timezone = 'America/New_York';
    const site = await seedSiteWithIqs(sys.db, 5, { name: 'Window', timezone, subscribed: false });
    fleet = await startFleet({
      credentials: site.iqs.map((iq) => iq.credentials),
      ports: gateway.ports,
      host: '127.0.0.1',
      update: { durationMs: 200 },
    });

    // A one-hour window opening three hours from the server's now, in the site's local time.
    const now = await env.currentTimeMs();
    const window = { start: hhmm(now + 3 * HOUR, timezone), end: hhmm(now + 4 * HOUR, timezone) };
    expect(insideWindow(window, timezone, new Date(now))).toBe(false);

    const support = await sys.signIn({ platformRole: 'support' });
    const call = async (path: string, body: unknown) =>
      (await sys.request('POST', path, { token: support.token, body })).json() as Promise<{ id: string }>;
    const rel = await call('/support/firmware-releases', {
      model: 'IQ2',
      version: '3.0.0',
      url: 'ftps://files.ks.test/iq2-3.0.0.bin',
      sha256: createHash('sha256').update('3.0.0').digest('hex'),
      sizeBytes: 10,
    });
    const { id } = await call('/support/rollouts', {
      releaseId: rel.id,
      target: { siteIds: [site.siteId] },
      policy: { maintenanceWindow: window, inProgressTimeoutSeconds: 60, retries: 0 },
    });

    // Real time passes; the server's clock stays before the window: nothing is sent.
    const states = async () =>
      (await sys.db.select().from(rolloutTargets).where(eq(rolloutTargets.rolloutId, id))).map(
        (t) => t.state,
      );
    await eventually(async () => expect(await states()).toHaveLength(5), 30_000);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(fleet.online.some((iq) => iq.received.some((m) => m.type === 'update'))).toBe(false);
    expect(await states()).toEqual(Array(5).fill('queued'));

    // Awaiting the result lets the server skip to the window's opening.
    const end = await sys.temporal.workflow.getHandle(rolloutWorkflowId(id)).result();
    // The wait is a timer that says in the Web UI what it waits for and until when (issue 16): the
    // window's opening, in ISO workflow time, within the minute the window starts.
    const events = (await sys.temporal.workflow.getHandle(`${rolloutWorkflowId(id)}-wave-0`).fetchHistory())
      .events!;
    const timers = events.filter((e) => e.timerStartedEventAttributes);
    expect(timers.length).toBeGreaterThanOrEqual(1);
    const summary = JSON.parse(
      Buffer.from(timers[0]!.userMetadata!.summary!.data!).toString('utf8'),
    ) as string;
    const until = /^waiting for maintenance window until (\S+)$/.exec(summary)?.[1];
    expect(until, summary).toBeDefined();
    expect(new Date(until!).toISOString()).toBe(until);
    expect(hhmm(Date.parse(until!), timezone)).toBe(window.start);
    expect(Date.parse(until!) - now).toBeGreaterThan(2 * HOUR);
    expect(end).toMatchObject({ status: 'completed', counts: { succeeded: 5 } });
    const done = await sys.db.select().from(rolloutTargets).where(eq(rolloutTargets.rolloutId, id));
    for (const t of done) {
      expect(t.state).toBe('succeeded');
      expect(insideWindow(window, timezone, t.startedAt!)).toBe(true);
      expect(t.startedAt!.getTime()).toBeGreaterThanOrEqual(now + 3 * HOUR - 60_000);
    }
  });
});
