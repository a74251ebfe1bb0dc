import { boolean, index, integer, jsonb, pgTable, primaryKey, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { AccessGrant } from '../../domain/access-sync';
import { iqs } from './sites';

/**
 * K7: the access list each IQ should hold at its current `iqs.access_version`, one row per credential,
 * the grant exactly as the device protocol carries it. Written only with a new version
 * (db/queries/access-lists.ts), in the transaction of the change that caused it.
 */
export const iqAccessEntries = pgTable(
  'iq_access_entries',
  {
    iqId: uuid()
      .notNull()
      .references(() => iqs.id, { onDelete: 'cascade' }),
    credentialId: uuid().notNull(),
    /** The holder's profile id, so a member's entries are found without reading every grant. */
    memberId: uuid().notNull(),
    entry: jsonb().$type<AccessGrant>().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.iqId, t.credentialId] }),
    index('iq_access_entries_member_idx').on(t.memberId),
  ],
);

/**
 * K7: each version of an IQ's list as the delta from the version before (or, `full`, the whole list):
 * what an IQ that missed versions is sent, in order. The last RETAINED_VERSIONS of an IQ are kept.
 */
export const iqAccessChanges = pgTable(
  'iq_access_changes',
  {
    iqId: uuid()
      .notNull()
      .references(() => iqs.id, { onDelete: 'cascade' }),
    version: integer().notNull(),
    fullList: boolean().notNull().default(false),
    grants: jsonb().$type<AccessGrant[]>().notNull(),
    revokes: jsonb().$type<string[]>().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.iqId, t.version] })],
);
