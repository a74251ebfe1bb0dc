/**
 * K7's statements read only the changed site's rows, however large the fleet: a change of access
 * rights at a site of two IQs, with 20,000 other IQs (each with a lock, a stored entry and retained
 * deltas) in the tables, makes no whole-table scan of iqs, locks, iq_access_entries or
 * iq_access_changes, when granting (versions bumped, deltas written, old ones pruned), revoking, and
 * when an IQ asks for the versions it missed. Watched through PostgreSQL's own count of the
 * connection's unreported scans (test/support/table-reads), on planned tables.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, Tx } from '../../db/client';
import { accessStepsAfter, syncAccessLists } from '../../db/queries/access-lists';
import { createTestDatabase } from '../support/database';
import { readsDuring } from '../support/table-reads';

const OTHER_IQS = 20_000;
const WATCHED = ['iqs', 'locks', 'iq_access_entries', 'iq_access_changes'] as const;

let database: Database;
const siteId = randomUUID();
const memberId = randomUUID();
const methodId = randomUUID();
const iqIds = [randomUUID(), randomUUID()];

beforeAll(async () => {
  database = await createTestDatabase();
  const { db } = database;
  const otherSite = randomUUID();
  await db.execute(sql`insert into sites (id, name, subscription_status) values
    (${otherSite}::uuid, 'Fleet', 'active'), (${siteId}::uuid, 'Watched', 'active')`);
  await db.execute(sql`
    insert into iqs (site_id, serial, model, secret_hash, subscribed, access_version)
    select ${otherSite}::uuid, 'OTHER-' || g, 'IQ2', 'x', true, 3 from generate_series(1, ${OTHER_IQS}::int) g`);
  await db.execute(sql`insert into locks (site_id, iq_id, name) select site_id, id, 'Door' from iqs`);
  await db.execute(sql`
    insert into iq_access_entries (iq_id, credential_id, member_id, entry)
    select id, gen_random_uuid(), gen_random_uuid(), '{}'::jsonb from iqs`);
  await db.execute(sql`
    insert into iq_access_changes (iq_id, version, grants, revokes)
    select i.id, v, '[]'::jsonb, '[]'::jsonb from iqs i, generate_series(1, 3) v`);
  await db.execute(sql`insert into profiles (id, email, name, password_hash) values
    (${memberId}::uuid, ${`m-${memberId}@example.test`}, 'Member', 'x')`);
  await db.execute(sql`insert into memberships (site_id, profile_id, role, subscribed) values
    (${siteId}::uuid, ${memberId}::uuid, 'user', true)`);
  for (const [n, id] of iqIds.entries()) {
    await db.execute(sql`insert into iqs (id, site_id, serial, model, secret_hash, subscribed)
      values (${id}::uuid, ${siteId}::uuid, ${`WATCHED-${n}-${siteId}`}, 'IQ2', 'x', true)`);
    await db.execute(
      sql`insert into locks (site_id, iq_id, name) values (${siteId}::uuid, ${id}::uuid, 'Door')`,
    );
  }
  for (const table of WATCHED) await db.execute(sql.raw(`analyze ${table}`));
});
afterAll(async () => {
  await database?.close();
});

/** Runs `work` in a transaction; the whole-table scans it made of each watched table. */
const wholeTableScans = async <T>(work: (tx: Tx) => Promise<T>) => {
  const { result, wholeTableScans: made } = await readsDuring(database.db, WATCHED, work);
  return { result, made };
};

const none = Object.fromEntries(WATCHED.map((t) => [t, 0]));

describe(`access sync at one site, ${OTHER_IQS} other IQs in the tables`, () => {
  it('a grant, a revoke and an IQ catching up read the site’s rows by key only', async () => {
    // More rounds than PostgreSQL plans custom before it may settle on a generic plan (5); each
    // round grants (two new versions per IQ, older deltas pruned once past retention) and revokes.
    for (let round = 0; round < 7; round++) {
      await database.db.execute(sql`
        insert into access_methods (id, site_id, profile_id, kind, tag_uid, status)
        values (${methodId}::uuid, ${siteId}::uuid, ${memberId}::uuid, 'tag', 'TAG-1', 'active')
        on conflict (id) do update set status = 'active'`);
      const granted = await wholeTableScans((tx) => syncAccessLists(tx, { siteId }));
      expect(granted.made, `grant, round ${round}`).toEqual(none);
      expect(granted.result.map((b) => b.iqId).sort()).toEqual([...iqIds].sort());

      await database.db.execute(
        sql`update access_methods set status = 'revoked' where id = ${methodId}::uuid`,
      );
      const revoked = await wholeTableScans((tx) => syncAccessLists(tx, { siteId }));
      expect(revoked.made, `revoke, round ${round}`).toEqual(none);
      expect(revoked.result).toHaveLength(2);

      const version = revoked.result[0]!.version;
      const caughtUp = await wholeTableScans((tx) =>
        accessStepsAfter(tx, [{ iqId: revoked.result[0]!.iqId, after: version - 2, upTo: version }]),
      );
      expect(caughtUp.made, `catching up, round ${round}`).toEqual(none);
      const [steps] = caughtUp.result;
      expect(steps!.map((s) => s.version)).toEqual([version - 1, version]);
      expect(steps![0]!.grants.map((g) => g.credentialId)).toEqual([methodId]);
      expect(steps![1]!.revokes).toEqual([methodId]);
    }
  });
});
