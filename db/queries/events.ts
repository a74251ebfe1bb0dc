import { and, eq, inArray, type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../client';
import { groupedWrites } from '../grouped-writes';
import { preparedPer, rawStatement } from '../prepared';
import { events, iqs, locks, profiles } from '../schema';
import { oneRow } from './json-sql';
import { uuidArray } from './sql-arrays';

export type NewEvent = typeof events.$inferInsert;

/** Appends to a site's audit trail; callers pass their transaction so the event commits with the change. */
export async function recordEvent(db: DbOrTx, event: NewEvent): Promise<void> {
  await db.insert(events).values(event);
}

type LockOpened = { siteId: string; actorProfileId: string; lockId: string; iqId: string };

/**
 * A remote opening the IQ confirmed (K4), recorded before the answer. Openings recorded at the same
 * time go into one statement (db/grouped-writes.ts): one row per opening, each caller answered once
 * its own row is stored.
 */
export async function recordLockOpened(db: Db, event: LockOpened): Promise<void> {
  await lockOpenedWriterOf(db)(event);
}

/** Most openings one statement writes (its four arrays of uuids stay a few tens of KiB). */
const MAX_OPENINGS_PER_WRITE = 500;

const writeLockOpened = async (db: DbOrTx, rows: LockOpened[]) => {
  await db.execute(sql`
    insert into events (site_id, type, actor_profile_id, lock_id, iq_id)
    select site_id, 'lock.opened', actor_profile_id, lock_id, iq_id
    from unnest(${uuidArray(rows.map((r) => r.siteId))}, ${uuidArray(rows.map((r) => r.actorProfileId))},
      ${uuidArray(rows.map((r) => r.lockId))}, ${uuidArray(rows.map((r) => r.iqId))})
      as r(site_id, actor_profile_id, lock_id, iq_id)`);
};

/** One writer per database handle, as its prepared queries are. */
const lockOpenedWriterOf = preparedPer((db) =>
  groupedWrites((rows: LockOpened[]) => writeLockOpened(db, rows), MAX_OPENINGS_PER_WRITE),
);

/**
 * An IQ's report on one of its own updates (F6), which the gateway records at every step of every
 * update: kept only when the IQ is a target of the rollout the update's id names and was sent that
 * attempt (a late report on an earlier one included), and once per state of that update (a flood of
 * repeats writes nothing more: events_update_status_idx finds the first). `known` is false, and
 * nothing written, for any other id. One statement built once (issue 15: a rollout of 10,000 IQs
 * writes 20,000 of them).
 */
export async function recordUpdateStatus(
  db: DbOrTx,
  event: {
    siteId: string;
    iqId: string;
    update: { rolloutId: string; attempt: number };
    data: { state: string } & Record<string, unknown>;
  },
): Promise<{ known: boolean; recorded: boolean }> {
  const [row] = await updateStatus(db, {
    siteId: event.siteId,
    iqId: event.iqId,
    rolloutId: event.update.rolloutId,
    attempt: event.update.attempt,
    updateId: `${event.update.rolloutId}:${event.update.attempt}`,
    state: event.data.state,
    data: JSON.stringify(event.data),
  });
  return { known: row?.known === true, recorded: row?.recorded === true };
}

const updateStatus = rawStatement<{
  siteId: string;
  iqId: string;
  rolloutId: string;
  attempt: number;
  updateId: string;
  state: string;
  data: string;
}>(
  (value) => sql`
    with known as (
      select exists (select 1 from rollout_targets t
        where t.rollout_id = ${value('rolloutId')}::uuid and t.iq_id = ${value('iqId')}::uuid
          and t.attempts >= ${value('attempt')}::int) as known
    ), recorded as (
      insert into events (site_id, type, actor_kind, iq_id, data)
      select ${value('siteId')}::uuid, 'iq.update_status', 'device', ${value('iqId')}::uuid, ${value('data')}::jsonb
      where (select known from known)
        and not exists (select 1 from events e
          where e.iq_id = ${value('iqId')}::uuid and e.type = 'iq.update_status'
            and e.data->>'updateId' = ${value('updateId')}::text and e.data->>'state' = ${value('state')}::text)
      returning 1
    )
    select (select known from known) as known, exists (select 1 from recorded) as recorded`,
);

/** Placeholders (or columns) of a page of a site's audit trail; no `beforeSeq` (null) is the newest page. */
export interface EventsPageAt {
  siteId: SQLWrapper;
  beforeSeq: SQLWrapper;
  limit: SQLWrapper;
}

/** The site's events before `beforeSeq`, newest first, at most `rows` of them (the index's order). */
const newestEvents = (at: EventsPageAt, columns: SQL, rows: SQL) => sql`
  select ${columns} from events e
  where e.site_id = ${at.siteId} and e.seq < coalesce(${at.beforeSeq}::bigint, 9223372036854775807)
  order by e.seq desc limit ${rows}`;

/**
 * A page of the audit trail as two values a statement can read beside others (the caller's session:
 * api/auth/reads-with-session.ts): `eventsJson`, the page's events as their stored API JSON
 * (events.api_json) joined by commas, newest first; `nextSeq`, the seq of its last event when older ones follow (null: none), what the route's
 * cursor wraps.
 */
export const eventsPageOf = (at: EventsPageAt) => ({
  eventsJson: sql<string>`(
    select coalesce(string_agg(p.json, ',' order by p.seq desc), '')
    from (${newestEvents(at, sql`e.seq, e.api_json as json`, sql`${at.limit}::int`)}) p
  )`,
  // bigint comes from the driver as text; null stays null (drizzle decodes only values).
  nextSeq: sql`(
    select case when count(*) > ${at.limit}::int then (array_agg(p.seq order by p.seq desc))[${at.limit}::int] end
    from (${newestEvents(at, sql`e.seq`, sql`${at.limit}::int + 1`)}) p
  )`.mapWith({ mapFromDriverValue: (seq: string): number | null => Number(seq) }),
});

const eventsPage = preparedPer((db) =>
  db
    .select(
      eventsPageOf({
        siteId: sql.placeholder('siteId'),
        beforeSeq: sql.placeholder('beforeSeq'),
        limit: sql.placeholder('limit'),
      }),
    )
    .from(oneRow())
    .prepare('events_page_json'),
);

/** A page of a site's audit trail (eventsPageOf); `beforeSeq` pages back from a cursor. */
export async function eventsPageJson(
  db: DbOrTx,
  siteId: string,
  page: { beforeSeq: number | null; limit: number },
): Promise<{ eventsJson: string; nextSeq: number | null }> {
  const [row] = await eventsPage(db).execute({ siteId, ...page });
  return row!;
}

/** Events of a site by id, oldest first, with the names an owner reads: lock, IQ, actor. */
export async function eventsWithNames(db: DbOrTx, siteId: string, eventIds: string[]) {
  return db
    .select({
      id: events.id,
      at: events.at,
      type: events.type,
      data: events.data,
      lockName: locks.name,
      iqName: iqs.name,
      iqSerial: iqs.serial,
      actorName: profiles.name,
    })
    .from(events)
    .leftJoin(locks, eq(locks.id, events.lockId))
    .leftJoin(iqs, eq(iqs.id, events.iqId))
    .leftJoin(profiles, eq(profiles.id, events.actorProfileId))
    .where(and(eq(events.siteId, siteId), inArray(events.id, eventIds)))
    .orderBy(events.seq);
}
