/**
 * rowOfJson (db/queries/row-json.ts): a row a statement answered as `row_to_json` reads back as the
 * row drizzle reads itself, column for column: microsecond times, bigints past 2^31, nulls.
 */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { rowOfJson } from '../../db/queries/row-json';
import { profiles, sites, subscriptionTerms, vouchers } from '../../db/schema';
import { createTestDatabase } from '../support/database';

let database: Database;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const asJson = async (table: string, id: string) => {
  const [row] = await database.db.execute<{ j: Record<string, unknown> }>(
    sql`select row_to_json(t) as j from ${sql.identifier(table)} t where t.id = ${id}::uuid`,
  );
  return row!.j;
};

describe('rowOfJson', () => {
  it('reads every column of a voucher and a term as drizzle reads the rows, set and unset', async () => {
    const { db } = database;
    const [creator] = await db
      .insert(profiles)
      .values({ email: 'row-json@ks.test', name: 'R', passwordHash: 'x' })
      .returning({ id: profiles.id });
    const [site] = await db.insert(sites).values({ name: 'Row JSON' }).returning({ id: sites.id });
    const [bare, full] = await db
      .insert(vouchers)
      .values([
        { codeHash: 'a'.repeat(64), usersLimit: 5, iqsLimit: 1, durationDays: 30 },
        {
          codeHash: 'b'.repeat(64),
          usersLimit: 50,
          iqsLimit: 9,
          durationDays: 365,
          redeemBy: new Date('2027-01-01T00:00:00Z'),
          createdBy: creator!.id,
          redeemedAt: new Date('2026-06-01T12:00:00.5Z'),
          redeemedSiteId: site!.id,
        },
      ])
      .returning({ id: vouchers.id });
    const [open, replaced] = await db
      .insert(subscriptionTerms)
      .values([
        {
          siteId: site!.id,
          voucherId: bare!.id,
          requestId: 'row-json-0',
          startsAt: new Date('2026-01-01T00:00:00Z'),
          endsAt: new Date('2026-02-01T00:00:00Z'),
          usersLimit: 5,
          iqsLimit: 1,
        },
        {
          siteId: site!.id,
          voucherId: full!.id,
          requestId: 'row-json-1',
          startsAt: new Date('2026-01-15T00:00:00Z'),
          endsAt: new Date('2126-03-01T00:00:00Z'),
          usersLimit: 50,
          iqsLimit: 9,
          carriedOverSeconds: 3_000_000_000,
          previousTermId: bare!.id,
          replacedAt: new Date('2026-01-20T00:00:00Z'),
        },
      ])
      .returning({ id: subscriptionTerms.id });
    // Microseconds, which a JavaScript Date drops as drizzle's own read drops them.
    await db.execute(
      sql`update subscription_terms set starts_at = '2026-01-01 00:00:00.123456+00' where id = ${open!.id}::uuid`,
    );

    for (const { id } of [bare!, full!]) {
      const [row] = await db.select().from(vouchers).where(eq(vouchers.id, id));
      expect(rowOfJson(vouchers, await asJson('vouchers', id))).toEqual(row);
    }
    for (const { id } of [open!, replaced!]) {
      const [row] = await db.select().from(subscriptionTerms).where(eq(subscriptionTerms.id, id));
      expect(rowOfJson(subscriptionTerms, await asJson('subscription_terms', id))).toEqual(row);
    }
    const [term] = await db.select().from(subscriptionTerms).where(eq(subscriptionTerms.id, replaced!.id));
    expect(term!.carriedOverSeconds).toBe(3_000_000_000);
  });
});
