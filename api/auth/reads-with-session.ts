import { type SQL, sql } from 'drizzle-orm';
import { eventsPageOf } from '../../db/queries/events';
import { openTargetOf } from '../../db/queries/locks';
import { membershipsJsonOf } from '../../db/queries/memberships';
import { peopleJsonOf } from '../../db/queries/people';
import { termAndSeatsOf } from '../../db/queries/subscriptions';
import { profiles } from '../../db/schema';
import { EventsQuery, eventsPageOfQuery } from '../events-page';

/**
 * What the sign-in statement also reads for one route (issue 15: PostgreSQL round trips dominate the
 * API's reads; with this a route's own read costs none of its own). A route reads it with readOf and
 * reads for itself when it is absent (another path shape, a query the declaration did not take).
 */
export interface ReadWithSessionDeclaration {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /**
   * The route's path, Hono-style; each `:name` segment matches a UUID, given to the columns as the
   * placeholder `name` (lower-cased). A path under `/sites/:siteId/` reads with the site and the
   * caller's membership there, and its columns reach the route only through siteAccess, once the
   * caller's access to that site is decided (api/site-access.ts).
   */
  path: string;
  /**
   * The columns' other placeholders from the query string, parsed with the route's own schema;
   * undefined for a query it refuses (the route then answers 400 naming the field).
   */
  query?: (query: Record<string, string | string[]>) => Record<string, unknown> | undefined;
  /** Read in the sign-in statement: `now` is the request's time, `callerId` the caller's profile. */
  columns: Record<string, SQL>;
  /**
   * Whether what the columns read is bounded by a rule, whatever the data (a row, a page of at most
   * 200 events): such a sign-in statement goes on the sign-in connection (AppDeps.signInDb), where
   * every request waits for the statements sent before its own. A read that grows with the data (a
   * site's people, its subscribed members counted, a person's memberships) goes to the pool, where it
   * holds up no one else's.
   */
  bounded: boolean;
}

const placeholder = sql.placeholder;
const siteId = placeholder('siteId');
/** The signed-in caller's profile id, from the sign-in statement's own row. */
const callerId = sql`${profiles.id}`;

export const READS_WITH_SESSION = {
  me: {
    method: 'GET',
    path: '/me',
    columns: { membershipsJson: membershipsJsonOf(callerId) },
    bounded: false,
  },
  subscription: {
    method: 'GET',
    path: '/sites/:siteId/subscription',
    columns: termAndSeatsOf(siteId),
    bounded: false,
  },
  events: {
    method: 'GET',
    path: '/sites/:siteId/events',
    query: (query) => {
      const parsed = EventsQuery.safeParse(query);
      return parsed.success ? eventsPageOfQuery(parsed.data) : undefined;
    },
    columns: eventsPageOf({ siteId, beforeSeq: placeholder('beforeSeq'), limit: placeholder('limit') }),
    bounded: true,
  },
  people: {
    method: 'GET',
    path: '/sites/:siteId/people',
    columns: peopleJsonOf({ siteId, now: placeholder('now') }),
    bounded: false,
  },
  lockOpen: {
    method: 'POST',
    path: '/sites/:siteId/locks/:lockId/open',
    columns: { openTarget: openTargetOf({ siteId, lockId: placeholder('lockId'), callerId }) },
    bounded: true,
  },
} satisfies Record<string, ReadWithSessionDeclaration>;

type Declared = typeof READS_WITH_SESSION;
export type ReadName = keyof Declared;
/** What a declaration's columns read: each column's value. */
export type ReadRow<N extends ReadName> = {
  [C in keyof Declared[N]['columns']]: Declared[N]['columns'][C] extends SQL<infer T> ? T : never;
};
/** One declaration's read, as the sign-in statement answered it. */
export type ReadWithSession = { [N in ReadName]: { name: N; row: ReadRow<N> } }[ReadName];

/** The columns the declaration `name` read with the session, or undefined when this request's read was another's or none. */
export function readOf<N extends ReadName>(
  read: ReadWithSession | undefined,
  name: N,
): ReadRow<N> | undefined {
  return read?.name === name ? (read.row as ReadRow<N>) : undefined;
}
