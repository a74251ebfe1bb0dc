/**
 * Migration 0016 on a database in use: rollouts that exist when it is applied (one finished, one in
 * flight) get their counts from their targets, and the triggers keep them from then on. The database
 * is first brought to migration 0015 with the committed files up to it, as a deployment of the
 * previous version left it.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations, type Database } from '../../db/client';
import { markReportedVersion, rolloutCounts } from '../../db/queries/rollouts';
import { migratedBefore } from '../support/migrated-before';

let url: string;
let database: Database;
let close: () => Promise<void> = async () => {};

beforeAll(async () => {
  ({ url, database, close } = await migratedBefore('0016_rollout_target_counts'));
});
afterAll(() => close());

describe('migration 0016 on rollouts that exist', () => {
  it('counts each rollout’s targets as they stand, and keeps counting after', async () => {
    const { db } = database;
    const siteId = randomUUID();
    const releaseId = randomUUID();
    const [finished, inFlight] = [randomUUID(), randomUUID()];
    await db.execute(sql`insert into sites (id, name) values (${siteId}::uuid, 'Fleet')`);
    await db.execute(sql`
      insert into iqs (site_id, serial, model, secret_hash, firmware)
      select ${siteId}::uuid, 'UP-' || g, 'IQ2', 'x', '1.0.0' from generate_series(1, 50) g`);
    await db.execute(sql`insert into firmware_releases (id, model, version, url, sha256, size_bytes)
      values (${releaseId}::uuid, 'IQ2', '2.0.0', 'https://example.test/fw', ${'0'.repeat(64)}, 1)`);
    await db.execute(sql`insert into rollouts (id, release_id, target, policy, status) values
      (${finished}::uuid, ${releaseId}::uuid, '{}'::jsonb, '{}'::jsonb, 'completed'),
      (${inFlight}::uuid, ${releaseId}::uuid, '{}'::jsonb, '{}'::jsonb, 'running')`);
    // The finished one: succeeded or failed. The one in flight: 5 in progress, 3 failed, the rest queued.
    await db.execute(sql`
      insert into rollout_targets (rollout_id, iq_id, position, state, attempts, update_id)
      select r.id, i.id, (row_number() over (partition by r.id order by i.serial))::int - 1,
        (case
          when r.id = ${finished}::uuid then (case when i.serial < 'UP-5' then 'succeeded' else 'failed' end)
          when i.serial in ('UP-1', 'UP-10', 'UP-11', 'UP-12', 'UP-13') then 'in_progress'
          when i.serial in ('UP-14', 'UP-15', 'UP-16') then 'failed'
          else 'queued' end)::rollout_target_state,
        1, r.id || ':1'
      from iqs i, rollouts r`);
    const counted = async (rolloutId: string) => {
      const rows = await db.execute<{ state: string; n: number }>(sql`
        select state::text, count(*)::int as n from rollout_targets where rollout_id = ${rolloutId}::uuid group by state`);
      return Object.fromEntries(rows.map((r) => [r.state, r.n]));
    };
    const kept = async (rolloutId: string) => {
      const c = await rolloutCounts(db, rolloutId);
      const byState = {
        queued: c.queued,
        in_progress: c.inProgress,
        succeeded: c.succeeded,
        failed: c.failed,
        timed_out: c.timedOut,
        skipped: c.skipped,
        canceled: c.canceled,
      };
      return Object.fromEntries(Object.entries(byState).filter(([, n]) => n > 0));
    };
    const finishedBefore = await counted(finished);
    const inFlightBefore = await counted(inFlight);
    expect(Object.keys(inFlightBefore).sort()).toEqual(['failed', 'in_progress', 'queued']);

    await applyMigrations(url);

    expect(await kept(finished)).toEqual(finishedBefore);
    expect(await kept(inFlight)).toEqual(inFlightBefore);
    // From now on the triggers count: two of the updates in flight report the new version.
    await db.execute(sql`update iqs set firmware = '2.0.0' where serial in ('UP-1', 'UP-10')`);
    expect(await markReportedVersion(db, inFlight, '2.0.0', new Date())).toBe(2);
    expect(await kept(inFlight)).toEqual(await counted(inFlight));
    expect((await kept(inFlight)).succeeded).toBe(2);
  });
});
