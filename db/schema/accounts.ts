import { index, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

export const platformRole = pgEnum('platform_role', ['installer', 'support']);

export const profiles = pgTable(
  'profiles',
  {
    id: uuid().primaryKey().defaultRandom(),
    /** Stored lower-cased; never changes (A3). */
    email: text().notNull(),
    name: text().notNull(),
    passwordHash: text().notNull(),
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
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('email_tokens_hash_key').on(t.tokenHash),
    index('email_tokens_profile_idx').on(t.profileId),
  ],
);
