import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { preparedPer } from '../prepared';
import { events, iqs, locks, profiles } from '../schema';

export type NewEvent = typeof events.$inferInsert;

/** Appends to a site's audit trail; callers pass their transaction so the event commits with the change. */
export async function recordEvent(db: DbOrTx, event: NewEvent): Promise<void> {
  await db.insert(events).values(event);
}

const eventsPage = (withCursor: boolean) =>
  preparedPer((db) =>
    db
      .select()
      .from(events)
      .where(
        and(
          eq(events.siteId, sql.placeholder('siteId')),
          withCursor ? lt(events.seq, sql.placeholder('beforeSeq')) : undefined,
        ),
      )
      .orderBy(desc(events.seq))
      .limit(sql.placeholder('limit'))
      .prepare(withCursor ? 'events_page_after' : 'events_page'),
  );
const firstPage = eventsPage(false);
const laterPage = eventsPage(true);

/** A site's audit trail, newest first; `beforeSeq` pages back from a cursor. */
export function listEvents(
  db: DbOrTx,
  siteId: string,
  page: { beforeSeq: number | undefined; limit: number },
) {
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
