/** What a login's password decides (A1, A4): the profile it signs in, or why it is refused. */
export type LoginDecision<P> = { signedIn: P } | { refused: 'email_not_confirmed' | 'invalid_credentials' };

/** What of a profile a login reads; undefined for an email without one. */
export interface LoginProfile {
  passwordHash: string;
  /** The newest sign-up's password, whether that sign-up made the profile or found it taken. */
  signupPasswordHash: string | null;
  emailConfirmedAt: Date | null;
}

/**
 * A login's decision. `check(hash)` checks the given password against `hash`, or against no one's
 * (as long as a real check) when `hash` is undefined.
 *
 * A4 holds even for whoever just signed an email up: every refusal makes two checks, the confirmed
 * account's password and then the newest sign-up's, each a dummy where the profile has none, so
 * neither its answer nor its time tells whether the email had a profile; and the sign-up's password
 * is answered `email_not_confirmed` whether that sign-up made the profile or found it taken. Only the
 * right password of a confirmed account signs in, after one check (which only its holder sees).
 */
export async function decideLogin<P extends LoginProfile>(
  profile: P | undefined,
  check: (hash: string | undefined) => Promise<boolean>,
): Promise<LoginDecision<P>> {
  const account = profile?.emailConfirmedAt ? profile : undefined;
  if ((await check(account?.passwordHash)) && account) return { signedIn: account };
  const signup = profile?.signupPasswordHash ?? undefined;
  const signedUp = (await check(signup)) && signup !== undefined;
  return { refused: signedUp ? 'email_not_confirmed' : 'invalid_credentials' };
}
