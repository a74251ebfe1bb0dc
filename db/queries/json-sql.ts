import { type SQL, type SQLWrapper, sql } from 'drizzle-orm';

// Pieces of the statements whose answers PostgreSQL writes as the API's JSON (issue 15).

/** A time as the API's JSON writes it (Date#toISOString: UTC, to the millisecond). */
export const isoTime = (time: SQLWrapper): SQL =>
  sql`to_char(${time} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The one-row relation a select made only of subqueries reads from. */
export const oneRow = (): SQL => sql`(select 1) as one`;
