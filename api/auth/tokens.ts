import type { Db, DbOrTx } from '../../db/client';
import type { MembershipFacts } from '../../db/queries/memberships';
import {
  insertSession,
  insertSessionIfPasswordIs,
  sessionCallerAtSiteReading,
  sessionCallerReading,
} from '../../db/queries/sessions';
import type { SiteFacts } from '../../db/queries/sites';
import { hashToken, newToken } from '../../domain/secrets';
import { changePassword } from '../../operations/accounts';
import type { AppEnv, AuthProfile } from '../deps';
import type { SignInRead } from './read-of-request';
import { READS_WITH_SESSION, type ReadName, type ReadWithSession } from './reads-with-session';

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

/**
 * A login's token (A5): issued only while the profile's password is still the one checked
 * (`passwordHash`, the hash it was checked against); undefined when a reset or change came between.
 */
export async function issueBearerTokenIfPasswordIs(
  db: DbOrTx,
  profile: { id: string; passwordHash: string },
  now: Date,
): Promise<string | undefined> {
  const { token, hash } = newToken();
  const opened = await insertSessionIfPasswordIs(db, {
    tokenHash: hash,
    profileId: profile.id,
    expiresAt: new Date(now.getTime() + TOKEN_TTL_MS),
    passwordHash: profile.passwordHash,
  });
  return opened === undefined ? undefined : token;
}

/** Each declared read's sign-in statement (reads-with-session.ts), and the two plain ones. */
const declaredStatements = Object.fromEntries(
  Object.entries(READS_WITH_SESSION).map(([name, declared]) => [
    name,
    declared.path.startsWith('/sites/:siteId/')
      ? sessionCallerAtSiteReading(`session_read_${name}`, declared.columns)
      : sessionCallerReading(`session_read_${name}`, declared.columns),
  ]),
) as Record<
  ReadName,
  (
    db: DbOrTx,
    tokenHash: string,
    now: Date,
    values: Record<string, unknown>,
  ) => Promise<SignInRow | undefined>
>;
const callerAtSite = sessionCallerAtSiteReading('session_caller_at_site', {});
const callerAlone = sessionCallerReading('session_caller', {});

type SignInRow = AuthProfile & {
  sessionId: string;
  site?: SiteFacts | undefined;
  membership?: MembershipFacts | undefined;
} & Record<string, unknown>;

/** A bearer token's caller and what its sign-in statement read besides (signInReadOf). */
export interface SignedIn {
  caller: AuthProfile & { sessionId: string };
  siteOfPath?: AppEnv['Variables']['siteOfPath'];
  /** Outside a site path: what the route declared (a site route's is kept in siteOfPath). */
  read?: ReadWithSession;
}

/**
 * The caller a bearer token names and, in the same statement, what `plan` reads; undefined for an
 * unknown, expired or logged-out token or an unconfirmed profile, whatever the plan.
 */
export async function resolveBearerToken(
  db: DbOrTx,
  token: string,
  now: Date,
  plan: SignInRead,
): Promise<SignedIn | undefined> {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  const tokenHash = hashToken(token);
  if (plan.kind === 'caller') {
    const caller = await callerAlone(db, tokenHash, now);
    return caller && { caller };
  }
  if (plan.kind === 'site') {
    const row = await callerAtSite(db, tokenHash, now, { siteId: plan.siteId });
    if (!row) return undefined;
    const { site, membership, ...caller } = row;
    return { caller, siteOfPath: { siteId: plan.siteId, site, membership } };
  }
  const row = await declaredStatements[plan.name](db, tokenHash, now, plan.values);
  if (!row) return undefined;
  const { sessionId, id, email, name, platformRole, site, membership } = row;
  const read = {
    name: plan.name,
    row: Object.fromEntries(Object.keys(READS_WITH_SESSION[plan.name].columns).map((c) => [c, row[c]])),
  } as ReadWithSession;
  const caller = { sessionId, id, email, name, platformRole };
  return plan.siteId === undefined
    ? { caller, read }
    : { caller, siteOfPath: { siteId: plan.siteId, site, membership, read } };
}

/**
 * A5: the caller's new password; every session of the profile ends and a new one is opened. Undefined,
 * and nothing changed, when the password is no longer the one checked (`currentPasswordHash`).
 */
export async function changeOwnPassword(
  db: Db,
  input: { profileId: string; currentPasswordHash: string; passwordHash: string; now: Date },
): Promise<string | undefined> {
  const { token, hash } = newToken();
  const changed = await changePassword(db, {
    profileId: input.profileId,
    currentPasswordHash: input.currentPasswordHash,
    passwordHash: input.passwordHash,
    tokenHash: hash,
    expiresAt: new Date(input.now.getTime() + TOKEN_TTL_MS),
  });
  return changed ? token : undefined;
}
