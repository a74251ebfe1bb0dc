import {
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { events } from './sites';

export const emailStatus = pgEnum('email_status', ['pending', 'sent']);

/**
 * Every email the system sends, keyed by an idempotency key so a retried send goes out once. In
 * development (no RESEND_API_KEY) this table is the mailbox shown at /dev/mailbox.
 */
export const sentEmails = pgTable(
  'sent_emails',
  {
    id: uuid().primaryKey().defaultRandom(),
    idempotencyKey: text().notNull(),
    toAddress: text().notNull(),
    template: text().notNull(),
    subject: text().notNull(),
    html: text().notNull(),
    text: text().notNull(),
    status: emailStatus().notNull().default('pending'),
    providerMessageId: text(),
    attempts: integer().notNull().default(0),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    sentAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    uniqueIndex('sent_emails_idempotency_key').on(t.idempotencyKey),
    index('sent_emails_created_idx').on(t.createdAt),
    // Emails to one address: the cap on account emails (A6) and a deleted profile's mail (D7).
    index('sent_emails_to_idx').on(t.toAddress, t.createdAt),
  ],
);

/** Replayable answers of requests that carried an Idempotency-Key header. */
export const idempotencyRecords = pgTable(
  'idempotency_records',
  {
    /** Who may replay: e.g. `<profileId>:<method> <path>`. */
    scope: text().notNull(),
    key: text().notNull(),
    requestHash: text().notNull(),
    status: integer().notNull(),
    body: jsonb().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] })],
);

/**
 * Events a site's owner chose to hear of (K6), queued in the transaction that records the event and
 * handed to the site's notifications workflow afterwards: a Temporal outage delays the email, it
 * never loses it. Ids only (D10).
 */
export const notificationOutbox = pgTable(
  'notification_outbox',
  {
    eventId: uuid()
      .primaryKey()
      .references(() => events.id, { onDelete: 'cascade' }),
    siteId: uuid().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('notification_outbox_created_idx').on(t.createdAt)],
);

/**
 * Which email told the owner of each event (K6, N3): claimed in the transaction that queues that
 * email, under its idempotency key. The relay may hand an event to the workflow again (a crash between
 * its signal and its delete), and a workflow run keeps no memory of the runs before it: a claim keeps
 * the event out of every other email, and lets a retry of the same email find its events. Ids only (D10).
 */
export const notifiedEvents = pgTable('notified_events', {
  eventId: uuid()
    .primaryKey()
    .references(() => events.id, { onDelete: 'cascade' }),
  emailKey: text().notNull(),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});
