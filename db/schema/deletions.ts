import { sql } from 'drizzle-orm';
import { index, pgEnum, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { sites } from './sites';

export const deletionStatus = pgEnum('deletion_status', [
  'awaiting_consent',
  'blocked_owner',
  'denied',
  'timed_out',
  'canceled',
  'completed',
]);

export const deletionRequests = pgTable(
  'deletion_requests',
  {
    id: uuid().primaryKey().defaultRandom(),
    /** Cleared when the deletion completes, so nothing leads back to the person (D7). */
    profileId: uuid(),
    status: deletionStatus().notNull().default('awaiting_consent'),
    deadlineAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    uniqueIndex('deletion_requests_one_open_key')
      .on(t.profileId)
      .where(sql`${t.status} = 'awaiting_consent'`),
  ],
);

export const consentDecision = pgEnum('consent_decision', ['pending', 'approved', 'denied']);

/** One per (request, site): the site owner's answer and the single-use link that records it (D2, D3). */
export const deletionConsents = pgTable(
  'deletion_consents',
  {
    requestId: uuid()
      .notNull()
      .references(() => deletionRequests.id, { onDelete: 'cascade' }),
    siteId: uuid()
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    decision: consentDecision().notNull().default('pending'),
    tokenHash: text(),
    tokenExpiresAt: timestamp({ withTimezone: true }),
    tokenUsedAt: timestamp({ withTimezone: true }),
    decidedAt: timestamp({ withTimezone: true }),
    remindedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    primaryKey({ columns: [t.requestId, t.siteId] }),
    index('deletion_consents_token_idx').on(t.tokenHash),
  ],
);
