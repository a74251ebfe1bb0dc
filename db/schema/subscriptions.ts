import {
  bigint,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { SubscriptionChanged } from '../../domain/subscription';
import { profiles } from './accounts';
import { sites } from './sites';

/** Prepaid vouchers (V1, V12). Only the SHA-256 of the normalized code is stored. */
export const vouchers = pgTable(
  'vouchers',
  {
    id: uuid().primaryKey().defaultRandom(),
    codeHash: text().notNull(),
    usersLimit: integer().notNull(),
    iqsLimit: integer().notNull(),
    durationDays: integer().notNull(),
    redeemBy: timestamp({ withTimezone: true }),
    createdBy: uuid().references(() => profiles.id, { onDelete: 'set null' }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    redeemedAt: timestamp({ withTimezone: true }),
    redeemedSiteId: uuid().references(() => sites.id, { onDelete: 'set null' }),
  },
  (t) => [uniqueIndex('vouchers_code_hash_key').on(t.codeHash)],
);

export const subscriptionTerms = pgTable(
  'subscription_terms',
  {
    id: uuid().primaryKey().defaultRandom(),
    siteId: uuid()
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    /** One voucher makes at most one term: the claim and the term are written together. */
    voucherId: uuid()
      .notNull()
      .references(() => vouchers.id),
    startsAt: timestamp({ withTimezone: true }).notNull(),
    endsAt: timestamp({ withTimezone: true }).notNull(),
    usersLimit: integer().notNull(),
    iqsLimit: integer().notNull(),
    carriedOverSeconds: bigint({ mode: 'number' }).notNull().default(0),
    previousTermId: uuid(),
    /** The redemption request that made this term: a retried claim finds its own term again. */
    requestId: text().notNull(),
    /** Set when a later redemption ended this term early (V3). */
    replacedAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('subscription_terms_voucher_key').on(t.voucherId),
    uniqueIndex('subscription_terms_request_key').on(t.requestId),
    index('subscription_terms_site_idx').on(t.siteId, t.startsAt),
  ],
);

/**
 * A redemption's announcement (the receipt email, the IQ push) queued in the transaction that wrote
 * its term and sent by the worker's relay afterwards, off Temporal: one row per term, so one receipt
 * per term (its idempotency key `receipt:<termId>` covers a relay that dies after sending). Ids only.
 */
export const redemptionAnnouncements = pgTable(
  'redemption_announcements',
  {
    termId: uuid()
      .primaryKey()
      .references(() => subscriptionTerms.id, { onDelete: 'cascade' }),
    siteId: uuid().notNull(),
    /**
     * What the site's workflow is told of this redemption (ids, times, the subscription version); null
     * on rows queued by releases that claimed inside the workflow, which knew it already.
     */
    workflowSignal: jsonb().$type<SubscriptionChanged>(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('redemption_announcements_created_idx').on(t.createdAt)],
);
