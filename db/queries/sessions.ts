import { and, eq, gt, isNotNull, lte, ne } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { profiles, sessions } from '../schema';

export async function insertSession(
  db: DbOrTx,
  values: { tokenHash: string; profileId: string; expiresAt: Date },
): Promise<string> {
  const [row] = await db.insert(sessions).values(values).returning({ id: sessions.id });
  if (!row) throw new Error('session insert returned nothing');
  return row.id;
}

/**
 * The signed-in caller of a bearer token, in one indexed lookup: the live session joined with its
 * confirmed profile. Undefined for an unknown, expired or logged-out token.
 */
export async function findSessionCaller(db: DbOrTx, tokenHash: string, now: Date) {
  const [row] = await db
    .select({
      sessionId: sessions.id,
      id: profiles.id,
      email: profiles.email,
      name: profiles.name,
      platformRole: profiles.platformRole,
    })
    .from(sessions)
    .innerJoin(profiles, eq(profiles.id, sessions.profileId))
    .where(
      and(
        eq(sessions.tokenHash, tokenHash),
        gt(sessions.expiresAt, now),
        isNotNull(profiles.emailConfirmedAt),
      ),
    );
  return row;
}

export async function deleteSession(db: DbOrTx, sessionId: string): Promise<void> {
  await db.delete(sessions).where(eq(sessions.id, sessionId));
}

/** A5: every session of the profile, but the one kept (the caller's new one after a change). */
export async function deleteSessionsOfProfile(db: DbOrTx, profileId: string, keep?: string): Promise<void> {
  await db
    .delete(sessions)
    .where(
      keep
        ? and(eq(sessions.profileId, profileId), ne(sessions.id, keep))
        : eq(sessions.profileId, profileId),
    );
}

/** Sessions of the profile that have expired: tidied at each login. */
export async function deleteExpiredSessions(db: DbOrTx, profileId: string, now: Date): Promise<void> {
  await db.delete(sessions).where(and(eq(sessions.profileId, profileId), lte(sessions.expiresAt, now)));
}
