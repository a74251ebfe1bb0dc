import type { Db, DbOrTx } from '../../db/client';
import {
  findSessionCaller,
  findSessionCallerAtSite,
  findSessionCallerOpeningLock,
  findSessionCallerWithMemberships,
  insertSession,
} from '../../db/queries/sessions';
import { hashToken, newToken } from '../../domain/secrets';
import { changePassword } from '../../operations/accounts';

const TOKEN_TTL_MS = 12 * 60 * 60 * 1000;
/** What newToken makes: 43 URL-safe characters. Anything else is refused before the database. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * A5: a bearer token is an opaque session: 256 random bits, stored only as its SHA-256, valid for 12
 * hours unless its session ends first (logout, a password reset or change).
 */
export async function issueBearerToken(db: DbOrTx, profileId: string, now: Date): Promise<string> {
  const { token, hash } = newToken();
  await insertSession(db, { tokenHash: hash, profileId, expiresAt: new Date(now.getTime() + TOKEN_TTL_MS) });
  return token;
}

/** The caller a bearer token names, or undefined (unknown, expired, logged out, unconfirmed). */
export async function resolveBearerToken(db: DbOrTx, token: string, now: Date) {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  return findSessionCaller(db, hashToken(token), now);
}

/** The caller a bearer token names with their memberships as /me's JSON (one query). */
export async function resolveBearerTokenWithMemberships(db: DbOrTx, token: string, now: Date) {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  return findSessionCallerWithMemberships(db, hashToken(token), now);
}

/** The caller a bearer token names with the site `siteId` and their membership there (one query). */
export async function resolveBearerTokenAtSite(db: DbOrTx, token: string, now: Date, siteId: string) {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  return findSessionCallerAtSite(db, hashToken(token), now, siteId);
}

/** The caller a bearer token names with the site, their membership and a remote opening's facts (one query). */
export async function resolveBearerTokenOpeningLock(
  db: DbOrTx,
  token: string,
  now: Date,
  at: { siteId: string; lockId: string },
) {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  return findSessionCallerOpeningLock(db, hashToken(token), now, at);
}

/** A5: the caller's new password; every session of the profile ends and a new one is opened. */
export async function changeOwnPassword(
  db: Db,
  input: { profileId: string; passwordHash: string; now: Date },
): Promise<string> {
  const { token, hash } = newToken();
  await changePassword(db, {
    profileId: input.profileId,
    passwordHash: input.passwordHash,
    tokenHash: hash,
    expiresAt: new Date(input.now.getTime() + TOKEN_TTL_MS),
  });
  return token;
}
