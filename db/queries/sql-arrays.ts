import { type SQL, sql } from 'drizzle-orm';

/**
 * Ids as one uuid[] parameter (its text form `{a,b}`): one statement's text for any number of ids,
 * prepared once. Ids hold nothing to quote, and PostgreSQL refuses any that is not a uuid.
 */
export const uuidArray = (ids: readonly string[]): SQL => sql`${`{${ids.join(',')}}`}::uuid[]`;
