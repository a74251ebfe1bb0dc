import { and, desc, eq, isNull, type SQLWrapper, sql } from 'drizzle-orm';
import type { SubscriptionChanged } from '../../domain/subscription';
import type { DbOrTx } from '../client';
import { preparedPer, rawStatement } from '../prepared';
import { sites, subscriptionTerms, vouchers } from '../schema';
import { jsonObjectText, oneRow } from './json-sql';
import { type RowJson, rowOfJson } from './row-json';

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

const termOfJson = (j: RowJson | null): Term | undefined => (j ? rowOfJson(subscriptionTerms, j) : undefined);
const voucherOfJson = (j: RowJson | null): Voucher | undefined => (j ? rowOfJson(vouchers, j) : undefined);

const termEmailFactsStatement = rawStatement<
  { siteId: string; termId: string },
  {
    id: string;
    name: string;
    timezone: string;
    sandbox: boolean;
    clock_offset_seconds: string | number;
    to: string | null;
    term: RowJson | null;
    previous: RowJson | null;
  }
>(
  (v) => sql`
    select s.id, s.name, s.timezone, s.sandbox, s.clock_offset_seconds,
      coalesce(
        (select p.email from memberships m join profiles p on p.id = m.profile_id
          where m.site_id = s.id and m.role = 'owner' limit 1),
        (select i.email from site_invitations i
          where i.site_id = s.id and i.role = 'owner' and i.accepted_at is null
            and i.expires_at > now()
          order by i.created_at desc limit 1)) as to,
      (select row_to_json(t) from subscription_terms t where t.id = ${v('termId')}::uuid) as term,
      (select row_to_json(pt) from subscription_terms t
        join subscription_terms pt on pt.id = t.previous_term_id
        where t.id = ${v('termId')}::uuid) as previous
    from sites s where s.id = ${v('siteId')}::uuid`,
);

/** What an email about a site's term is written from (S5). */
export interface TermEmailFacts {
  site: { id: string; name: string; timezone: string; sandbox: boolean; clockOffsetSeconds: number };
  /** Where admin emails go: the owner's address, else the open owner invitation's; none without either. */
  to?: string;
  term?: Term;
  /** The term it replaced (a receipt explains the carry-over, V4). */
  previous?: Term;
}

/**
 * The site, where its admin emails go, the term and the term it replaced, in one statement (issue 15:
 * they were three or four, for every receipt, reminder and expired email); undefined without the site.
 * The address is the owner's; while the owner an installer named has not joined yet, the address of
 * the newest open owner invitation (the one the owner must sign up with, A2): an expired one is not,
 * its link dead and its address never confirmed as the owner's (S7).
 */
export async function findTermEmailFacts(
  db: DbOrTx,
  input: { siteId: string; termId: string },
): Promise<TermEmailFacts | undefined> {
  const [row] = await termEmailFactsStatement(db, input);
  if (!row) return undefined;
  const term = termOfJson(row.term);
  const previous = termOfJson(row.previous);
  return {
    site: {
      id: row.id,
      name: row.name,
      timezone: row.timezone,
      sandbox: row.sandbox,
      clockOffsetSeconds: Number(row.clock_offset_seconds),
    },
    ...(row.to ? { to: row.to } : {}),
    ...(term ? { term } : {}),
    ...(previous ? { previous } : {}),
  };
}

const claimStatement = rawStatement<
  { siteId: string; codeHash: string; requestId: string; now: string },
  {
    voucher: RowJson | null;
    requested: RowJson | null;
    requested_with_code: boolean | null;
    current: RowJson | null;
  }
>(
  (v) => sql`
    with claimed as (
      update vouchers v set redeemed_at = ${v('now')}::timestamptz, redeemed_site_id = ${v('siteId')}::uuid
      where v.code_hash = ${v('codeHash')} and v.redeemed_at is null
        and (v.redeem_by is null or v.redeem_by > ${v('now')}::timestamptz)
        and not exists (select 1 from subscription_terms r where r.request_id = ${v('requestId')})
      returning v.*)
    select
      (select row_to_json(c) from claimed c) as voucher,
      (select row_to_json(r) from subscription_terms r where r.request_id = ${v('requestId')}) as requested,
      (select v.code_hash = ${v('codeHash')} from subscription_terms r join vouchers v on v.id = r.voucher_id
        where r.request_id = ${v('requestId')}) as requested_with_code,
      (select row_to_json(t) from subscription_terms t
        where t.site_id = ${v('siteId')}::uuid and t.replaced_at is null
        order by t.starts_at desc limit 1) as current`,
);

/**
 * A redemption's reads and its claim in one statement, run under the site's lock (issue 15: they
 * were three): the term this request already made, if any (and whether with another code: an
 * Idempotency-Key sent again with another body); else the voucher claimed for the site (a
 * conditional UPDATE, so of two concurrent claims exactly one gets the row; none when the code is
 * unknown, used or past its redeem-by date); and the site's current term (findCurrentTerm's).
 */
export async function claimForRequest(
  tx: DbOrTx,
  input: { siteId: string; codeHash: string; requestId: string; now: Date },
): Promise<{ requested?: Term; requestedWithOtherCode?: true; voucher?: Voucher; current?: Term }> {
  const [row] = await claimStatement(tx, {
    siteId: input.siteId,
    codeHash: input.codeHash,
    requestId: input.requestId,
    now: input.now.toISOString(),
  });
  const requested = termOfJson(row?.requested ?? null);
  const voucher = voucherOfJson(row?.voucher ?? null);
  const current = termOfJson(row?.current ?? null);
  return {
    ...(requested ? { requested } : {}),
    ...(requested && row?.requested_with_code === false ? { requestedWithOtherCode: true as const } : {}),
    ...(voucher ? { voucher } : {}),
    ...(current ? { current } : {}),
  };
}

const redeemedTermStatement = rawStatement<{
  termId: string;
  siteId: string;
  voucherId: string;
  requestId: string;
  startsAt: string;
  endsAt: string;
  usersLimit: number;
  iqsLimit: number;
  carriedOverSeconds: number;
  replacesTermId: string | null;
  announcement: string | null;
  actorProfileId: string;
  data: string;
}>(
  (v) => sql`
    with replaced as (
      update subscription_terms set replaced_at = ${v('startsAt')}::timestamptz
      where id = ${v('replacesTermId')}::uuid),
    term as (
      insert into subscription_terms (id, site_id, voucher_id, request_id, starts_at, ends_at, users_limit,
        iqs_limit, carried_over_seconds, previous_term_id)
      values (${v('termId')}::uuid, ${v('siteId')}::uuid, ${v('voucherId')}::uuid, ${v('requestId')},
        ${v('startsAt')}::timestamptz, ${v('endsAt')}::timestamptz, ${v('usersLimit')}::int, ${v('iqsLimit')}::int,
        ${v('carriedOverSeconds')}::bigint, ${v('replacesTermId')}::uuid)),
    site as (
      update sites set subscription_status = 'active', subscription_version = subscription_version + 1
      where id = ${v('siteId')}::uuid),
    announced as (
      insert into redemption_announcements (term_id, site_id, workflow_signal)
      select ${v('termId')}::uuid, ${v('siteId')}::uuid, ${v('announcement')}::jsonb
      where ${v('announcement')}::jsonb is not null)
    insert into events (site_id, at, type, actor_profile_id, data)
    values (${v('siteId')}::uuid, ${v('startsAt')}::timestamptz, 'subscription.redeemed', ${v('actorProfileId')}::uuid,
      ${v('data')}::jsonb)`,
);

/**
 * A redemption's writes after its claim, in one statement (issue 15: they were four or five): the
 * replaced term ends now (V3), the new term is written, the site is active, the term's receipt and
 * IQ push are queued for the worker's relay (when `announce`), and the audit trail records it.
 */
export async function writeRedeemedTerm(
  tx: DbOrTx,
  t: {
    id: string;
    siteId: string;
    voucherId: string;
    requestId: string;
    startsAt: Date;
    endsAt: Date;
    usersLimit: number;
    iqsLimit: number;
    carriedOverSeconds: number;
    /** The term this one replaces (an active one), ended at `startsAt`. */
    replacesTermId: string | undefined;
    /** Queue the receipt, the IQ push and this telling of the site's workflow (redemption_announcements). */
    announce: SubscriptionChanged | undefined;
    actorProfileId: string;
  },
): Promise<void> {
  const endsAt = t.endsAt.toISOString();
  await redeemedTermStatement(tx, {
    termId: t.id,
    siteId: t.siteId,
    voucherId: t.voucherId,
    requestId: t.requestId,
    startsAt: t.startsAt.toISOString(),
    endsAt,
    usersLimit: t.usersLimit,
    iqsLimit: t.iqsLimit,
    carriedOverSeconds: t.carriedOverSeconds,
    replacesTermId: t.replacesTermId ?? null,
    announcement: t.announce ? JSON.stringify(t.announce) : null,
    actorProfileId: t.actorProfileId,
    // The term by id only, as an expiry records it: owners and admins read the audit trail, and the
    // terms' voucher, end and carry-over are the subscription history (V11: support's alone).
    data: JSON.stringify({ termId: t.id }),
  });
}

export async function findVoucherByHash(db: DbOrTx, codeHash: string): Promise<Voucher | undefined> {
  const [row] = await db.select().from(vouchers).where(eq(vouchers.codeHash, codeHash));
  return row;
}

/**
 * Seats in use now: subscribed members and subscribed IQs of the site `siteId` (a placeholder or a
 * column), as two counting subqueries. Written in SQL with aliases (see membershipsJsonOf).
 */
const seatCounts = (siteId: SQLWrapper) => ({
  users: sql<number>`(select count(*)::int from memberships m where m.site_id = ${siteId} and m.subscribed)`,
  iqs: sql<number>`(select count(*)::int from iqs q where q.site_id = ${siteId} and q.subscribed)`,
});

// Both counts in one statement (issue 15: the subscription read pays one round trip for them).
const usage = preparedPer((db) =>
  db
    .select(seatCounts(sql.placeholder('siteId')))
    .from(oneRow())
    .prepare('slot_usage'),
);

export async function slotUsage(db: DbOrTx, siteId: string): Promise<{ users: number; iqs: number }> {
  const [row] = await usage(db).execute({ siteId });
  return { users: Number(row?.users ?? 0), iqs: Number(row?.iqs ?? 0) };
}

/**
 * GET subscription's term and seats as values a statement can read beside others (the caller's
 * session: api/auth/reads-with-session.ts; issue 15: they were two statements, the term mapped row by
 * row): the current term (findCurrentTerm's) as the API's JSON text, times as Date#toISOString writes
 * them, or null; and the seats in use (seatCounts, as slotUsage).
 */
export const termAndSeatsOf = (siteId: SQLWrapper) => ({
  term: sql<string | null>`(
    select ${jsonObjectText([
      ['startsAt', 'time', sql.raw('t.starts_at')],
      ['endsAt', 'time', sql.raw('t.ends_at')],
      ['usersLimit', 'json', sql.raw('t.users_limit')],
      ['iqsLimit', 'json', sql.raw('t.iqs_limit')],
    ])}
    from subscription_terms t
    where t.site_id = ${siteId} and t.replaced_at is null
    order by t.starts_at desc limit 1
  )`,
  ...seatCounts(siteId),
});

const termAndSeats = preparedPer((db) =>
  db
    .select(termAndSeatsOf(sql.placeholder('siteId')))
    .from(oneRow())
    .prepare('term_and_usage'),
);

/** The current term as the API's JSON text (or null) and the seats in use, in one statement. */
export async function termJsonAndSeats(db: DbOrTx, siteId: string) {
  const [row] = await termAndSeats(db).execute({ siteId });
  return row!;
}

const lockSiteStatement = rawStatement<{ siteId: string }, { site: RowJson }>(
  (v) => sql`select row_to_json(s) as site from sites s where s.id = ${v('siteId')}::uuid for no key update`,
);

/**
 * Serializes the changes of one site (redemption, expiry, slots, people, access, IQs) on its row;
 * each takes it before any other row of the site. `for no key update`: the site's id never changes, so
 * an insert that names the site (an event, an opening's) checks its key without waiting for the lock,
 * and a transaction that inserted one first cannot deadlock with another on the lock. A raw statement
 * (issue 15: drizzle built this select anew in every transaction that took the lock).
 */
export async function lockSite(db: DbOrTx, siteId: string): Promise<typeof sites.$inferSelect | undefined> {
  const [row] = await lockSiteStatement(db, { siteId });
  return row ? rowOfJson(sites, row.site) : undefined;
}
