import { and, desc, eq, isNull, type Placeholder, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { preparedPer } from '../prepared';
import { iqs, memberships, sites, subscriptionTerms, vouchers } from '../schema';
import { isoTime, oneRow } from './json-sql';

export type Term = typeof subscriptionTerms.$inferSelect;
export type Voucher = typeof vouchers.$inferSelect;

const currentTerm = preparedPer((db) =>
  db
    .select()
    .from(subscriptionTerms)
    .where(and(eq(subscriptionTerms.siteId, sql.placeholder('siteId')), isNull(subscriptionTerms.replacedAt)))
    .orderBy(desc(subscriptionTerms.startsAt))
    .limit(1)
    .prepare('current_term'),
);

/** The term in force or last in force: the newest one not replaced by a later redemption. */
export async function findCurrentTerm(db: DbOrTx, siteId: string): Promise<Term | undefined> {
  const [row] = await currentTerm(db).execute({ siteId });
  return row;
}

export async function findTermByRequest(db: DbOrTx, requestId: string): Promise<Term | undefined> {
  const [row] = await db.select().from(subscriptionTerms).where(eq(subscriptionTerms.requestId, requestId));
  return row;
}

export async function findTerm(db: DbOrTx, termId: string): Promise<Term | undefined> {
  const [row] = await db.select().from(subscriptionTerms).where(eq(subscriptionTerms.id, termId));
  return row;
}

export async function listTerms(db: DbOrTx, siteId: string): Promise<Term[]> {
  return db
    .select()
    .from(subscriptionTerms)
    .where(eq(subscriptionTerms.siteId, siteId))
    .orderBy(subscriptionTerms.startsAt);
}

/**
 * Claims a voucher for a site: a single conditional UPDATE, so of two concurrent claims exactly one
 * gets the row. Returns undefined when the code is unknown, used or past its redeem-by date.
 */
export async function claimVoucher(
  db: DbOrTx,
  codeHash: string,
  siteId: string,
  now: Date,
): Promise<Voucher | undefined> {
  const [row] = await db
    .update(vouchers)
    .set({ redeemedAt: now, redeemedSiteId: siteId })
    .where(
      and(
        eq(vouchers.codeHash, codeHash),
        isNull(vouchers.redeemedAt),
        sql`(${vouchers.redeemBy} is null or ${vouchers.redeemBy} > ${now.toISOString()}::timestamptz)`,
      ),
    )
    .returning();
  return row;
}

export async function findVoucherByHash(db: DbOrTx, codeHash: string): Promise<Voucher | undefined> {
  const [row] = await db.select().from(vouchers).where(eq(vouchers.codeHash, codeHash));
  return row;
}

/** Seats in use now: subscribed members and subscribed IQs of the site, as two counting subqueries. */
const seatCounts = (db: DbOrTx, siteId: Placeholder) => ({
  users: sql<number>`(${db
    .select({ n: sql<number>`count(*)::int` })
    .from(memberships)
    .where(and(eq(memberships.siteId, siteId), eq(memberships.subscribed, true)))})`,
  iqs: sql<number>`(${db
    .select({ n: sql<number>`count(*)::int` })
    .from(iqs)
    .where(and(eq(iqs.siteId, siteId), eq(iqs.subscribed, true)))})`,
});

// Both counts in one statement (issue 15: the subscription read pays one round trip for them).
const usage = preparedPer((db) =>
  db
    .select(seatCounts(db, sql.placeholder('siteId')))
    .from(oneRow())
    .prepare('slot_usage'),
);

export async function slotUsage(db: DbOrTx, siteId: string): Promise<{ users: number; iqs: number }> {
  const [row] = await usage(db).execute({ siteId });
  return { users: Number(row?.users ?? 0), iqs: Number(row?.iqs ?? 0) };
}

/**
 * GET subscription's term and usage in one statement (issue 15: they were two, the term mapped row by
 * row): the current term (findCurrentTerm's) as the API's JSON text, times as Date#toISOString writes
 * them, or null; and the seats in use (seatCounts, as slotUsage).
 */
const termAndUsage = preparedPer((db) =>
  db
    .select({
      term: sql<string | null>`(
        select json_build_object(
          'startsAt', ${isoTime(sql.raw('t.starts_at'))},
          'endsAt', ${isoTime(sql.raw('t.ends_at'))},
          'usersLimit', t.users_limit,
          'iqsLimit', t.iqs_limit
        )::text
        from subscription_terms t
        where t.site_id = ${sql.placeholder('siteId')} and t.replaced_at is null
        order by t.starts_at desc limit 1
      )`,
      ...seatCounts(db, sql.placeholder('siteId')),
    })
    .from(oneRow())
    .prepare('term_and_usage'),
);

/** The current term as the API's JSON text (or null) and the seats in use, in one statement. */
export async function termJsonAndUsage(db: DbOrTx, siteId: string) {
  const [row] = await termAndUsage(db).execute({ siteId });
  return { term: row!.term, usage: { users: Number(row!.users), iqs: Number(row!.iqs) } };
}

/** Serializes slot and term changes of one site (redemption, expiry, toggles) on its row. */
export async function lockSite(db: DbOrTx, siteId: string) {
  const [row] = await db.select().from(sites).where(eq(sites.id, siteId)).for('update');
  return row;
}
