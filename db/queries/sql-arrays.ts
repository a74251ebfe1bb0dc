import { type SQL, sql } from 'drizzle-orm';

/**
 * Ids as the text form of a uuid[] (`{a,b}`), to bind as one parameter cast to uuid[]: one statement's
 * text for any number of ids, prepared once. Ids hold nothing to quote, and PostgreSQL refuses any
 * that is not a uuid.
 */
export const uuidArrayText = (ids: readonly string[]): string => `{${ids.join(',')}}`;

/** Ids as one uuid[] parameter (uuidArrayText). */
export const uuidArray = (ids: readonly string[]): SQL => sql`${uuidArrayText(ids)}::uuid[]`;
