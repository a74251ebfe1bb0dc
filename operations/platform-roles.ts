import type { Db } from '../db/client';
import { lockProfileByEmail, updateProfile } from '../db/queries/profiles';

export type PlatformRole = 'installer' | 'support';

/** What a grant did; `previous` is the role it replaced (null: none). */
export type GrantOutcome =
  | { kind: 'granted'; profileId: string; previous: PlatformRole | null }
  | { kind: 'no_profile' }
  | { kind: 'unconfirmed' };

/** What a revocation did; `previous` null: the profile had no role, nothing changed. */
export type RevokeOutcome =
  | { kind: 'revoked'; profileId: string; previous: PlatformRole | null }
  | { kind: 'no_profile' };

/**
 * The operator's grant of a platform role. Only to a confirmed profile: an unconfirmed one's password
 * is whoever signed up with the address, not necessarily its owner (A1), and confirming it later would
 * make that password a staff login. A profile holds one role: the grant replaces the one it had.
 */
export function grantPlatformRole(db: Db, email: string, role: PlatformRole): Promise<GrantOutcome> {
  return db.transaction(async (tx) => {
    const profile = await lockProfileByEmail(tx, email);
    if (!profile) return { kind: 'no_profile' };
    if (!profile.emailConfirmedAt) return { kind: 'unconfirmed' };
    if (profile.platformRole !== role) await updateProfile(tx, profile.id, { platformRole: role });
    return { kind: 'granted', profileId: profile.id, previous: profile.platformRole };
  });
}

/**
 * The operator's revocation; idempotent. Sessions stay: every request reads the caller's role with its
 * session (db/queries/sessions.ts), so the next one is answered without the role.
 */
export function revokePlatformRole(db: Db, email: string): Promise<RevokeOutcome> {
  return db.transaction(async (tx) => {
    const profile = await lockProfileByEmail(tx, email);
    if (!profile) return { kind: 'no_profile' };
    if (profile.platformRole) await updateProfile(tx, profile.id, { platformRole: null });
    return { kind: 'revoked', profileId: profile.id, previous: profile.platformRole };
  });
}
