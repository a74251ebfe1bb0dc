import { boolean, index, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

export const platformRole = pgEnum('platform_role', ['installer', 'support']);

export const profiles = pgTable(
  'profiles',
  {
    id: uuid().primaryKey().defaultRandom(),
    /** Stored lower-cased; never changes (A3). */
    email: text().notNull(),
    name: text().notNull(),
    passwordHash: text().notNull(),
    /**
     * The password of the newest sign-up of this email not yet followed by its owner's confirmation or
     * password (A4): a login with it is answered `email_not_confirmed` whether the sign-up made the
     * profile or found it taken.
     */
    signupPasswordHash: text(),
    /**
     * Signed up again while unconfirmed: the mailbox's owner cannot tell whose sign-up a link is, so
     * confirming keeps no sign-up's password and asks them for one (A1).
     */
    signupContested: boolean().notNull().default(false),
    emailConfirmedAt: timestamp({ withTimezone: true }),
    platformRole: platformRole(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('profiles_email_key').on(t.email)],
);

export const emailTokenKind = pgEnum('email_token_kind', ['confirm_email', 'password_reset']);

/** Single-use links sent by email; only the SHA-256 of the token is stored. */
export const emailTokens = pgTable(
  'email_tokens',
  {
    id: uuid().primaryKey().defaultRandom(),
    kind: emailTokenKind().notNull(),
    tokenHash: text().notNull(),
    profileId: uuid().references(() => profiles.id, { onDelete: 'cascade' }),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    usedAt: timestamp({ withTimezone: true }),
    /**
     * A confirmation link's own sign-up (A1): the password and name that following it gives the
     * profile, so no link confirms another sign-up's password. Null on other kinds.
     */
    passwordHash: text(),
    name: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('email_tokens_hash_key').on(t.tokenHash),
    index('email_tokens_profile_idx').on(t.profileId),
  ],
);

/**
 * Signed-in sessions (A5): a bearer token is 256 random bits, stored only as its SHA-256. Logout
 * deletes its row; a password reset or change deletes every row of the profile.
 */
export const sessions = pgTable(
  'sessions',
  {
    id: uuid().primaryKey().defaultRandom(),
    tokenHash: text().notNull(),
    profileId: uuid()
      .notNull()
      .references(() => profiles.id, { onDelete: 'cascade' }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [
    uniqueIndex('sessions_token_hash_key').on(t.tokenHash),
    index('sessions_profile_idx').on(t.profileId),
  ],
);

/**
 * Throttles (A6, V12) as GCRA: each key holds its theoretical arrival time; an attempt is allowed
 * while `max(tat, now) + window/limit` stays within `now + window`. Keys name what is counted (an
 * HMAC of an email or address, a profile or site id), never the email or address itself.
 */
export const throttles = pgTable(
  'throttles',
  {
    key: text().primaryKey(),
    tat: timestamp({ withTimezone: true, precision: 3 }).notNull(),
  },
  (t) => [index('throttles_tat_idx').on(t.tat)],
);

export const accountEmailKind = pgEnum('account_email_kind', [
  'confirm_email',
  'password_reset',
  'account_exists',
]);

/**
 * Account emails queued by sign-up and password-reset requests (A4), sent off the request path by
 * the account-mail relay (the API kicks it, the worker sweeps it): the request does the same work
 * whether or not the email has a profile, and an email provider outage loses nothing. `token` is the
 * link's token, chosen at the request so a retried send carries the same link; only its hash goes
 * into email_tokens, when the email is sent. Rows are deleted once handled.
 */
export const accountEmails = pgTable(
  'account_emails',
  {
    id: uuid().primaryKey().defaultRandom(),
    kind: accountEmailKind().notNull(),
    /** Lower-cased; the relay looks the profile up by it. */
    email: text().notNull(),
    token: text().notNull(),
    /** A confirmation email's sign-up (its link's password and name: email_tokens); null on other kinds. */
    passwordHash: text(),
    name: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('account_emails_created_idx').on(t.createdAt)],
);
