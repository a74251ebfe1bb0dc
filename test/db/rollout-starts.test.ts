/**
 * The start of an update (F3, F6, N7): on real PostgreSQL, an IQ already on the release's version when
 * its turn comes is skipped and sent nothing, and an IQ that another rollout is updating is not
 * started again, however the starts of two rollouts interleave.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import {
  insertRelease,
  insertRollout,
  markReportedVersion,
  resolveTargets,
  startNextUpdates,
} from '../../db/queries/rollouts';
import { DEFAULT_POLICY } from '../../domain/rollout';
import { createTestDatabase } from '../support/database';

let database: Database;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

/** `size` online IQs on 1.0.0 of a model of their own, and a release 2.0.0 of it. */
async function fleetOf(size: number) {
  const { db } = database;
  const model = `M-${randomUUID().slice(0, 8)}`;
  const siteId = randomUUID();
  await db.execute(sql`insert into sites (id, name) values (${siteId}::uuid, 'Fleet')`);
  await db.execute(sql`
    insert into iqs (site_id, serial, model, secret_hash, firmware, online, gateway_instance)
    select ${siteId}::uuid, ${model} || '-' || g, ${model}, 'x', '1.0.0', true, 'gw'
    from generate_series(1, ${size}::int) g`);
  const release = await insertRelease(db, {
    model,
    version: '2.0.0',
    url: 'https://example.test/fw',
    sha256: '0'.repeat(64),
    sizeBytes: 1,
  });
  return { model, releaseId: release!.id };
}

async function rolloutOver(fleet: { model: string; releaseId: string }) {
  const rollout = await insertRollout(database.db, {
    releaseId: fleet.releaseId,
    target: { model: fleet.model },
    policy: DEFAULT_POLICY,
  });
  await resolveTargets(database.db, rollout.id);
  return rollout.id;
}

const states = async (rolloutId: string) =>
  database.db.execute<{ iq_id: string; state: string; attempts: number }>(sql`
    select iq_id, state::text, attempts from rollout_targets where rollout_id = ${rolloutId}::uuid order by position`);

const startAll = (rolloutId: string) =>
  startNextUpdates(database.db, rolloutId, { scope: 0, to: 1_000, limit: 1_000 }, new Date());

describe('starting updates', () => {
  it('skips an IQ that came back on the release’s version before its turn, and counts no success for it', async () => {
    const fleet = await fleetOf(2);
    const rolloutId = await rolloutOver(fleet);
    const [first, second] = await states(rolloutId);
    // A hello on the new version (another rollout, or a technician, updated it meanwhile).
    await database.db.execute(sql`update iqs set firmware = '2.0.0' where id = ${second!.iq_id}::uuid`);
    const started = await startAll(rolloutId);
    expect(started.map((s) => s.iqId)).toEqual([first!.iq_id]);
    expect(await markReportedVersion(database.db, rolloutId, '2.0.0', new Date())).toBe(0);
    expect((await states(rolloutId)).map((t) => [t.state, t.attempts])).toEqual([
      ['in_progress', 1],
      ['skipped', 0],
    ]);
  });

  it('two rollouts of one release starting the same IQs at once: each IQ is started by one (N7)', async () => {
    for (let round = 0; round < 5; round++) {
      const fleet = await fleetOf(20);
      const a = await rolloutOver(fleet);
      const b = await rolloutOver(fleet);
      const [fromA, fromB] = await Promise.all([startAll(a), startAll(b)]);
      const started = [...fromA, ...fromB].map((s) => s.iqId).sort();
      expect(started).toEqual([...new Set(started)]);
      expect(started).toHaveLength(20);
      // The other rollout keeps them queued: each starts them if that update fails, else skips them.
      const queued = [...(await states(a)), ...(await states(b))].filter((t) => t.state === 'queued');
      expect(queued).toHaveLength(20);
    }
  });
});
