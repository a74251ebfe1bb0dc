/**
 * Migration 0020 on a database in use: the redemptions' audit events recorded before it held their
 * term's voucher, end and carry-over (the subscription history, V11); after it each names its term by
 * id only, and other events keep their data. The database is first brought to the migration before
 * it with the committed files, as a deployment of the previous version left it.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyMigrations, type Database } from '../../db/client';
import { migratedBefore } from '../support/migrated-before';

let url: string;
let database: Database;
let close: () => Promise<void> = async () => {};

beforeAll(async () => {
  ({ url, database, close } = await migratedBefore('0020_redeemed_events_term_only'));
});
afterAll(() => close());

it('leaves each redemption’s event its term id only, and other events as they were', async () => {
  const { db } = database;
  const siteId = randomUUID();
  const termId = randomUUID();
  await db.execute(sql`insert into sites (id, name) values (${siteId}::uuid, 'Head office')`);
  const history = {
    termId,
    voucherId: randomUUID(),
    endsAt: '2027-01-01T00:00:00.000Z',
    carriedOverSeconds: 86_400,
  };
  await db.execute(sql`insert into events (site_id, type, actor_kind, data) values
    (${siteId}::uuid, 'subscription.redeemed', 'system', ${JSON.stringify(history)}::jsonb),
    (${siteId}::uuid, 'subscription.expired', 'system', ${JSON.stringify({ termId })}::jsonb),
    (${siteId}::uuid, 'lock.open_refused', 'system', ${JSON.stringify({ reason: 'no_slot' })}::jsonb)`);

  await applyMigrations(url);

  const rows = await db.execute<{ type: string; data: unknown; api_json: string }>(
    sql`select type, data, api_json from events where site_id = ${siteId}::uuid order by type`,
  );
  expect(rows.map((r) => [r.type, r.data])).toEqual([
    ['lock.open_refused', { reason: 'no_slot' }],
    ['subscription.expired', { termId }],
    ['subscription.redeemed', { termId }],
  ]);
  // What the events API answers is generated from the data: the voucher and dates are gone from it too.
  for (const key of ['voucherId', 'endsAt', 'carriedOverSeconds']) {
    expect(rows.map((r) => r.api_json).join('')).not.toContain(key);
  }
});
