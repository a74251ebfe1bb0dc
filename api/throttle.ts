import { createHmac } from 'node:crypto';
import {
  AttemptRefused,
  clearThrottle,
  settleThrottles,
  type ThrottleKey,
  takeThrottle,
} from '../db/queries/throttles';
import { THROTTLES, type ThrottleName, waitInWords } from '../domain/throttling';
import { addressBucket } from './client-address';
import type { AppDeps } from './deps';
import { problem } from './problem';

/**
 * The key of what a throttle counts: the throttle's name and an HMAC (under TOKEN_SECRET) of the
 * email, address or id, so the table holds no email or address (personal data) and a typed email
 * that has no profile is counted exactly like one that has (A4).
 */
export function throttleKey(secret: string, name: ThrottleName, subject: string): ThrottleKey {
  const digest = createHmac('sha256', secret).update(`${name}\n${subject}`).digest('base64url').slice(0, 22);
  return { key: `${name}:${digest}`, policy: THROTTLES[name] };
}

/** The address's key for that throttle, or none when the request came through no socket (tests). */
export const addressKey = (secret: string, name: ThrottleName, address: string | undefined) =>
  address === undefined ? [] : [throttleKey(secret, name, addressBucket(address))];

/**
 * The key of one account (a typed email) tried from one address; a request that came through no socket
 * (tests) counts as one address of its own.
 */
export const accountAddressKey = (
  secret: string,
  name: ThrottleName,
  account: string,
  address: string | undefined,
) => throttleKey(secret, name, `${account}\n${address === undefined ? '' : addressBucket(address)}`);

/** What the detail of a 429 says is being counted, by throttle. */
const COUNTED: Record<ThrottleName, string> = {
  loginAccountAddress: 'Too many sign-in attempts for this account from your network address',
  loginAccount: 'Too many sign-in attempts for this account',
  loginAddress: 'Too many sign-in attempts from your network address',
  passwordChange: 'Too many wrong current passwords',
  resetAccount: 'Too many password-reset requests for this email',
  resetAddress: 'Too many password-reset requests from your network address',
  signupAddress: 'Too many sign-ups from your network address',
  redeemActor: 'Too many failed voucher redemptions by you',
  redeemAddress: 'Too many failed voucher redemptions from your network address',
  redeemSite: 'Too many failed voucher redemptions on this site',
  inviteAddress: 'Too many invitations to this email from this site',
};

/**
 * One attempt, checked and counted atomically on every key (db/queries/throttles.ts), or 429
 * `too_many_attempts` with Retry-After and a detail that says what is counted and when to retry.
 */
export async function takeAttempt(deps: Pick<AppDeps, 'db' | 'now'>, keys: readonly ThrottleKey[]) {
  // The app's clock, read once the keys are locked (db/queries/throttles.ts ThrottleClock).
  const decision = await takeThrottle(deps.db, keys, () => deps.now());
  if (!decision.allowed) throw tooManyAttempts(decision);
}

/** The 429 for an attempt refused on `key` at `at`, which allows the next one `retryAfterMs` later. */
function tooManyAttempts(refusal: { key: string; retryAfterMs: number; at: Date }) {
  const seconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
  const name = refusal.key.slice(0, refusal.key.indexOf(':')) as ThrottleName;
  const retryAt = new Date(refusal.at.getTime() + seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  return problem(
    'too_many_attempts',
    `${COUNTED[name]}; try again in ${waitInWords(seconds * 1000)} (at ${retryAt}).`,
    { headers: { 'retry-after': String(seconds) } },
  );
}

/**
 * For the `.catch` of an operation that counts its attempt in its own transaction (a redemption, an
 * invitation): the AttemptRefused it throws as the 429, from the instant it was decided at; anything
 * else as it is.
 */
export const refusedAttemptAs429 = (error: unknown): never => {
  throw error instanceof AttemptRefused ? tooManyAttempts(error) : error;
};

/**
 * A success, in one transaction: forgets what was counted on the actor's key (their failures must not
 * hold them up any longer) and gives the counted attempt back on the shared keys (it was no failure).
 */
export const succeeded = (deps: Pick<AppDeps, 'db'>, actor: ThrottleKey, shared: readonly ThrottleKey[]) =>
  settleThrottles(deps.db, { clear: [actor], refund: shared });

/** Forgets what was counted on a key (a success clears the actor's failures: V12). */
export const forget = (deps: Pick<AppDeps, 'db'>, key: ThrottleKey) => clearThrottle(deps.db, key.key);
