import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
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
import { profiles } from './accounts';

export const siteStatus = pgEnum('site_status', ['installing', 'active']);
export const subscriptionStatus = pgEnum('subscription_status', ['none', 'active', 'expired']);
export const siteRole = pgEnum('site_role', ['owner', 'admin', 'user']);

export const sites = pgTable('sites', {
  id: uuid().primaryKey().defaultRandom(),
  name: text().notNull(),
  timezone: text().notNull().default('UTC'),
  status: siteStatus().notNull().default('active'),
  /** The installer manages the site until release (S1); null afterwards keeps no link to them. */
  installerProfileId: uuid().references(() => profiles.id, { onDelete: 'set null' }),
  sandbox: boolean().notNull().default(false),
  /** Sandbox test clock (O2): seconds the site's time runs ahead of real time. Always 0 on real sites. */
  clockOffsetSeconds: bigint({ mode: 'number' }).notNull().default(0),
  subscriptionStatus: subscriptionStatus().notNull().default('none'),
  /**
   * Bumped, under the site's lock, by every change of the subscription's status or current term (a
   * redemption, an expiry): the site's workflow adopts what it is told in this order, whatever order
   * the telling arrives in.
   */
  subscriptionVersion: integer().notNull().default(0),
  /** Event types that email the owner (K6). */
  notifyEventTypes: text().array().notNull().default(sql`'{}'::text[]`),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  releasedAt: timestamp({ withTimezone: true }),
});

export const memberships = pgTable(
  'memberships',
  {
    siteId: uuid()
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    profileId: uuid()
      .notNull()
      .references(() => profiles.id, { onDelete: 'cascade' }),
    role: siteRole().notNull(),
    subscribed: boolean().notNull().default(false),
    subscribedAt: timestamp({ withTimezone: true }),
    masterKey: boolean().notNull().default(false),
    joinedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.siteId, t.profileId] }),
    uniqueIndex('memberships_one_owner_key').on(t.siteId).where(sql`${t.role} = 'owner'`),
    index('memberships_profile_idx').on(t.profileId),
  ],
);

export const iqs = pgTable(
  'iqs',
  {
    id: uuid().primaryKey().defaultRandom(),
    siteId: uuid()
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    serial: text().notNull(),
    model: text().notNull(),
    name: text(),
    secretHash: text().notNull(),
    subscribed: boolean().notNull().default(false),
    subscribedAt: timestamp({ withTimezone: true }),
    online: boolean().notNull().default(false),
    firmware: text(),
    lastSeenAt: timestamp({ withTimezone: true }),
    /** The gateway instance that holds the IQ's connection, so commands find it. */
    gatewayInstance: text(),
    /** K7: the version of the access list the IQ should hold (iq_access_changes), and the one it acknowledged. */
    accessVersion: integer().notNull().default(0),
    accessAcked: integer().notNull().default(0),
    registeredAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('iqs_serial_key').on(t.serial),
    index('iqs_site_idx').on(t.siteId),
    // The gateway's look for IQs it holds that are behind on access (iqsBehindOnAccess).
    index('iqs_access_behind_idx').on(t.gatewayInstance).where(sql`${t.accessAcked} < ${t.accessVersion}`),
  ],
);

export const locks = pgTable(
  'locks',
  {
    id: uuid().primaryKey().defaultRandom(),
    siteId: uuid()
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    iqId: uuid()
      .notNull()
      .references(() => iqs.id, { onDelete: 'cascade' }),
    name: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  // By IQ: every access change reads each IQ's locks (K7), and an IQ's deletion cascades to them.
  (t) => [index('locks_site_idx').on(t.siteId), index('locks_iq_idx').on(t.iqId)],
);

export const accessKind = pgEnum('access_kind', ['tag', 'mobile_key', 'pin', 'remote']);
export const accessStatus = pgEnum('access_status', ['active', 'needs_activation', 'revoked']);

export const accessMethods = pgTable(
  'access_methods',
  {
    id: uuid().primaryKey().defaultRandom(),
    siteId: uuid()
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    /** Null once the holder's profile is deleted (D7): the revoked credential stays, linked to nobody. */
    profileId: uuid().references(() => profiles.id, { onDelete: 'set null' }),
    kind: accessKind().notNull(),
    /** Set for a PIN, which is valid on one IQ only. */
    iqId: uuid().references(() => iqs.id, { onDelete: 'cascade' }),
    tagUid: text(),
    pinHash: text(),
    /** What an IQ verifies a PIN with (domain/device-pin.ts); the scrypt `pinHash` stays the cloud's. */
    devicePinHash: text(),
    status: accessStatus().notNull().default('active'),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    index('access_methods_member_idx').on(t.siteId, t.profileId),
    index('access_methods_iq_idx').on(t.iqId),
  ],
);

/** Audit trail. Actors are kept as ids; a deleted profile's events get an unlinked placeholder (D7). */
export const events = pgTable(
  'events',
  {
    id: uuid().primaryKey().defaultRandom(),
    /** Insertion order for stable cursor pagination. */
    seq: bigint({ mode: 'number' }).generatedAlwaysAsIdentity(),
    siteId: uuid()
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    at: timestamp({ withTimezone: true }).notNull().defaultNow(),
    type: text().notNull(),
    actorProfileId: uuid(),
    /** 'profile', 'system', 'device', or 'deleted-profile' once the actor's profile is gone. */
    actorKind: text().notNull().default('profile'),
    subjectProfileId: uuid(),
    lockId: uuid(),
    iqId: uuid(),
    data: jsonb().$type<Record<string, unknown>>(),
    /** K8: the IQ's own id of an event it reported; one row per (IQ, id). */
    deviceEventId: text(),
    /**
     * The event as the API answers it (API.md's Event), as JSON text, written by PostgreSQL when the
     * row is written or changed (D7's unlinking included): a page of the audit trail is then a join of
     * stored texts (issue 15: writing it on every read cost a page of 50 events half its statement).
     * event_api_json is created in migration 0012.
     */
    apiJson: text()
      .notNull()
      .generatedAlwaysAs(
        sql`event_api_json(id, at, type, actor_kind, actor_profile_id, subject_profile_id, lock_id, iq_id, data)`,
      ),
  },
  (t) => [
    index('events_site_seq_idx').on(t.siteId, t.seq),
    uniqueIndex('events_device_event_key')
      .on(t.iqId, t.deviceEventId)
      .where(sql`${t.deviceEventId} is not null`),
    // F6: an IQ's report on an update is kept once per state; a repeat looks itself up here.
    index('events_update_status_idx')
      .on(t.iqId, sql`(${t.data}->>'updateId')`, sql`(${t.data}->>'state')`)
      .where(sql`${t.type} = 'iq.update_status'`),
    index('events_actor_idx').on(t.actorProfileId),
    index('events_subject_idx').on(t.subjectProfileId),
  ],
);

/**
 * A role at a site offered to an email (S7, A2): the person becomes a member only by following the
 * invitation's own link, which works once, for this site alone, until `expiresAt`. Pending while
 * `acceptedAt` is null and `expiresAt` is ahead; a withdrawn invitation is deleted (its link then
 * leads nowhere). A pending invitation holds no slot and no access method.
 */
export const siteInvitations = pgTable(
  'site_invitations',
  {
    id: uuid().primaryKey().defaultRandom(),
    siteId: uuid()
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    email: text().notNull(),
    role: siteRole().notNull(),
    invitedBy: uuid().references(() => profiles.id, { onDelete: 'set null' }),
    /** SHA-256 of the link's token; null once accepted (the link is spent). */
    tokenHash: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp({ withTimezone: true }).notNull().default(sql`now() + interval '14 days'`),
    acceptedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    uniqueIndex('site_invitations_open_key').on(t.siteId, t.email).where(sql`${t.acceptedAt} is null`),
    uniqueIndex('site_invitations_token_key').on(t.tokenHash),
    index('site_invitations_email_idx').on(t.email),
  ],
);

export type SiteRole = (typeof siteRole.enumValues)[number];
export type SubscriptionStatus = (typeof subscriptionStatus.enumValues)[number];
