import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { preparedPer } from '../prepared';
import { events, iqs, locks, profiles } from '../schema';
import { isoTime } from './json-sql';

export type NewEvent = typeof events.$inferInsert;

/** Appends to a site's audit trail; callers pass their transaction so the event commits with the change. */
export async function recordEvent(db: DbOrTx, event: NewEvent): Promise<void> {
  await db.insert(events).values(event);
}

/** A remote opening the IQ confirmed (K4), recorded before the answer: one statement built once. */
export async function recordLockOpened(
  db: DbOrTx,
  event: { siteId: string; actorProfileId: string; lockId: string; iqId: string },
): Promise<void> {
  await lockOpened(db).execute(event);
}

const lockOpened = preparedPer((db) =>
  db
    .insert(events)
    .values({
      siteId: sql.placeholder('siteId'),
      type: 'lock.opened',
      actorProfileId: sql.placeholder('actorProfileId'),
      lockId: sql.placeholder('lockId'),
      iqId: sql.placeholder('iqId'),
    })
    .prepare('record_lock_opened'),
);

/**
 * Each event as the API answers it (API.md's Event), built by PostgreSQL as JSON text: mapping ten
 * columns of every row to an object, its time to a Date and back, then the page to JSON cost a GET of
 * the audit trail more CPU than its query (issue 15). `at` in UTC to the millisecond, as
 * Date#toISOString writes it; `data` as stored.
 */
const eventJson = sql<string>`json_build_object(
  'id', ${events.id},
  'at', ${isoTime(events.at)},
  'type', ${events.type},
  'actor', json_build_object('kind', ${events.actorKind}, 'profileId', ${events.actorProfileId}),
  'subjectProfileId', ${events.subjectProfileId},
  'lockId', ${events.lockId},
  'iqId', ${events.iqId},
  'data', ${events.data}
)::text`;

const eventsPage = (withCursor: boolean) =>
  preparedPer((db) =>
    db
      .select({ seq: events.seq, json: eventJson })
      .from(events)
      .where(
        and(
          eq(events.siteId, sql.placeholder('siteId')),
          withCursor ? lt(events.seq, sql.placeholder('beforeSeq')) : undefined,
        ),
      )
      .orderBy(desc(events.seq))
      .limit(sql.placeholder('limit'))
      .prepare(withCursor ? 'events_page_json_after' : 'events_page_json'),
  );
const firstPage = eventsPage(false);
const laterPage = eventsPage(true);

/** A site's audit trail, newest first, each event's seq and API JSON; `beforeSeq` pages back from a cursor. */
export function listEventsJson(
  db: DbOrTx,
  siteId: string,
  page: { beforeSeq: number | undefined; limit: number },
): Promise<Array<{ seq: number; json: string }>> {
  return page.beforeSeq === undefined
    ? firstPage(db).execute({ siteId, limit: page.limit })
    : laterPage(db).execute({ siteId, limit: page.limit, beforeSeq: page.beforeSeq });
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
