/**
 * How a rollout ends for each IQ (F3, F4, F6) over the device gateway and the dev server: an IQ on the
 * version by its turn is skipped and sent nothing, two rollouts of one release update an IQ once, an
 * IQ that never comes back after its update is a failure the abort threshold sees, and the default
 * policy's canary can abort a bad release.
 */
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { rolloutTargets } from '../../db/schema';
import { startFleet } from '../../iq-sim/fleet';
import type { IqCredentials } from '../../iq-sim/iq';
import { rawClient, seedSiteWithIqs } from '../gateway/helpers';
import { rolloutHarness } from './rollout-harness';

const h = rolloutHarness({ instanceId: 'gw-rollout-targets', versionMajor: 3 });
const { call, release, startRollout, result, fleets } = h;

type Iq = { id: string; credentials: IqCredentials };
async function seedSite(count: number) {
  const { iqs: seeded } = await seedSiteWithIqs(h.sys.db, count, { name: 'Rollout targets' });
  return seeded.sort((x, y) => (x.id < y.id ? -1 : 1));
}

const fast = { inProgressTimeoutSeconds: 30, retries: 0, offlineDeadlineSeconds: 120 };
const targetStates = async (rolloutId: string) =>
  (await h.sys.db.select().from(rolloutTargets).where(eq(rolloutTargets.rolloutId, rolloutId)))
    .sort((x, y) => x.position - y.position)
    .map((t) => [t.iqId, t.state, t.attempts, t.error]);

/** An IQ on a raw connection that says hello on `firmware` and keeps its heartbeat. */
async function device(iq: Iq, firmware = '1.0.0') {
  const raw = await rawClient(h.gateway.ports[0]!);
  const beat = setInterval(() => raw.write('{"type":"heartbeat"}\n'), 300);
  raw.socket.once('close', () => clearInterval(beat));
  raw.write(`${JSON.stringify({ type: 'hello', ...iq.credentials, firmware, accessVersion: 0 })}\n`);
  expect(await raw.next()).toMatchObject({ type: 'welcome' });
  return raw;
}
type Device = Awaited<ReturnType<typeof device>>;
/** The next update the gateway sends the IQ (other lines, such as access lists, passed over). */
async function nextUpdate(raw: Device, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = (await raw.next(Math.max(1, deadline - Date.now()))) as { type: string; updateId: string };
    if (line.type === 'update') return line;
  }
}
async function reconnect(raw: Device, iq: Iq, firmware: string) {
  raw.socket.destroy();
  await raw.closed;
  return device(iq, firmware);
}

describe('how a rollout ends for each IQ (F3, F4, F6)', () => {
  it('an IQ on the version by its turn is skipped and sent nothing; no success is counted for it', async () => {
    const [first, second] = await seedSite(2);
    const rel = await release();
    const a = await device(first!);
    let b = await device(second!);
    const id = await startRollout({
      releaseId: rel.id,
      target: { iqIds: [first!.id, second!.id] },
      policy: { ...fast, canarySize: 1, growthFactor: 1, maxConcurrent: 1 },
    });
    await nextUpdate(a, 15_000);
    // While the canary runs, the second IQ comes back on the release's version by other means.
    b = await reconnect(b, second!, rel.version);
    const a2 = await reconnect(a, first!, rel.version);
    expect(await result(id)).toMatchObject({ status: 'completed' });
    await expect(nextUpdate(b, 300)).rejects.toThrow('no line from the gateway');
    expect(await targetStates(id)).toEqual([
      [first!.id, 'succeeded', 1, null],
      [second!.id, 'skipped', 0, null],
    ]);
    a2.socket.destroy();
    b.socket.destroy();
  });

  it('two rollouts of one release over one IQ: it is sent the update once, the second skips it', async () => {
    const [iq] = await seedSite(1);
    const rel = await release();
    const a = await device(iq!);
    const first = await startRollout({ releaseId: rel.id, target: { iqIds: [iq!.id] }, policy: fast });
    expect(await nextUpdate(a, 15_000)).toMatchObject({ updateId: `${first}:1` });
    const second = await startRollout({ releaseId: rel.id, target: { iqIds: [iq!.id] }, policy: fast });
    // The second rollout looks at its IQ several times a second meanwhile.
    await expect(nextUpdate(a, 2_000)).rejects.toThrow('no line from the gateway');
    const a2 = await reconnect(a, iq!, rel.version);
    await Promise.all([result(first), result(second)]);
    expect(await targetStates(first)).toEqual([[iq!.id, 'succeeded', 1, null]]);
    expect(await targetStates(second)).toEqual([[iq!.id, 'skipped', 0, null]]);
    await expect(nextUpdate(a2, 300)).rejects.toThrow('no line from the gateway');
    a2.socket.destroy();
  });

  it('IQs that never come back after their update fail with `timeout` and abort the rollout', async () => {
    const seeded = await seedSite(4);
    const rel = await release();
    const conns = await Promise.all(seeded.map((iq) => device(iq)));
    // Each IQ, once sent its update, goes away for good (the release bricks it).
    for (const raw of conns) {
      void nextUpdate(raw, 60_000).then(
        () => raw.socket.destroy(),
        () => {},
      );
    }
    const id = await startRollout({
      releaseId: rel.id,
      target: { iqIds: seeded.map((iq) => iq.id) },
      policy: {
        canarySize: 2,
        growthFactor: 1,
        maxConcurrent: 2,
        inProgressTimeoutSeconds: 2,
        retries: 1,
        offlineDeadlineSeconds: 3,
        failureThresholdPercent: 10,
        minFinishedBeforeAbort: 1,
      },
    });
    expect(await result(id)).toMatchObject({ status: 'aborted', abortReason: 'failure_threshold' });
    const view = (await call('GET', `/support/rollouts/${id}`)).body;
    expect(view.counts).toMatchObject({ failed: 2, timedOut: 0, canceled: 2 });
    expect(view.failures).toEqual(
      seeded.slice(0, 2).map((iq) => expect.objectContaining({ iqId: iq.id, error: 'timeout', attempts: 1 })),
    );
  });

  it('with the default policy the canary alone aborts a release that fails every IQ', async () => {
    const seeded = await seedSite(8);
    const fleet = await startFleet({
      credentials: seeded.map((iq) => iq.credentials),
      ports: h.gateway.ports,
      host: '127.0.0.1',
      update: { durationMs: 50, failureRate: 1 },
      connectTimeoutMs: 60_000,
    });
    fleets.push(fleet);
    const rel = await release();
    // No policy: every field takes its default.
    const id = await startRollout({ releaseId: rel.id, target: { iqIds: seeded.map((iq) => iq.id) } });
    expect(await result(id)).toMatchObject({ status: 'aborted', abortReason: 'failure_threshold' });
    const view = (await call('GET', `/support/rollouts/${id}`)).body;
    expect(view.counts).toMatchObject({ succeeded: 0, failed: 5, canceled: 3 });
  });
});
