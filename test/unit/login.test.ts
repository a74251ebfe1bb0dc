import { describe, expect, it } from 'vitest';
import { decideLogin, type LoginProfile } from '../../domain/login';

/** A password's stand-in hash; a check is right when the hash is the password's. */
const hashOf = (password: string) => `hash:${password}`;

/** Decides a login with `password`, counting the checks it makes (dummy ones included). */
async function login(profile: LoginProfile | undefined, password: string) {
  let checks = 0;
  const decided = await decideLogin(profile, async (hash) => {
    checks++;
    return hash === hashOf(password);
  });
  return { answer: 'refused' in decided ? decided.refused : 'signed_in', checks };
}

const confirmed = (password: string, signup: string | null = null): LoginProfile => ({
  passwordHash: hashOf(password),
  signupPasswordHash: signup === null ? null : hashOf(signup),
  emailConfirmedAt: new Date(0),
});
/** What a sign-up of a new email makes: its password is the account's and the sign-up's. */
const signedUp = (password: string): LoginProfile => ({
  passwordHash: hashOf(password),
  signupPasswordHash: hashOf(password),
  emailConfirmedAt: null,
});

describe('decideLogin (A1, A4)', () => {
  it('signs in only a confirmed account with its password, after one check', async () => {
    expect(await login(confirmed('right'), 'right')).toEqual({ answer: 'signed_in', checks: 1 });
    expect(await login(confirmed('right', 'someone else'), 'right')).toEqual({
      answer: 'signed_in',
      checks: 1,
    });
    expect((await login(signedUp('right'), 'right')).answer).toBe('email_not_confirmed');
  });

  it('answers the password of a sign-up alike whether the sign-up made the profile or found it taken', async () => {
    // What whoever signs an email up with "mine" then sees, for each state the email may have been in.
    const states: Record<string, LoginProfile> = {
      'no profile (the sign-up made it)': signedUp('mine'),
      'a confirmed account': confirmed('owner', 'mine'),
      'an account signed up before, unconfirmed': {
        ...signedUp('first'),
        signupPasswordHash: hashOf('mine'),
      },
    };
    for (const [state, profile] of Object.entries(states)) {
      expect(await login(profile, 'mine'), state).toEqual({ answer: 'email_not_confirmed', checks: 2 });
      expect(await login(profile, 'a guess'), state).toEqual({ answer: 'invalid_credentials', checks: 2 });
    }
  });

  it('every refusal makes two checks, whatever the email and the password', async () => {
    const profiles: Array<LoginProfile | undefined> = [
      undefined,
      confirmed('a'),
      confirmed('a', 'b'),
      confirmed('a', 'a'),
      signedUp('a'),
      { ...signedUp('a'), signupPasswordHash: hashOf('b') },
      { ...signedUp('a'), signupPasswordHash: null },
    ];
    for (const profile of profiles) {
      for (const password of ['a', 'b', 'c']) {
        const { answer, checks } = await login(profile, password);
        expect(checks, `${JSON.stringify(profile)} ${password}`).toBe(answer === 'signed_in' ? 1 : 2);
      }
    }
    // An unconfirmed profile's own password, no longer its newest sign-up's, opens nothing.
    expect((await login({ ...signedUp('a'), signupPasswordHash: hashOf('b') }, 'a')).answer).toBe(
      'invalid_credentials',
    );
  });
});
