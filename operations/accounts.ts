import type { Db, DbOrTx } from '../db/client';
import {
  type AccountEmail,
  countEmailsTo,
  lockAddressForSending,
  queueAccountEmail,
} from '../db/queries/account-emails';
import {
  endLiveTokensOfProfile,
  findUsableToken,
  issueEmailToken,
  lockTokensOfProfile,
  markTokensUsed,
  storeEmailToken,
} from '../db/queries/email-tokens';
import {
  confirmSignUp,
  findProfileByEmail,
  findProfileById,
  normalizeEmail,
  setPasswordIfCurrent,
  signUpProfile,
  updateProfile,
} from '../db/queries/profiles';
import { deleteSessionsOfProfile, insertSession } from '../db/queries/sessions';
import { publicLink } from '../domain/public-link';
import { newToken } from '../domain/secrets';
import { ACCOUNT_EMAILS_PER_HOUR } from '../domain/throttling';
import type { TemplateName, TemplateProps } from '../emails/templates';
import type { Mailing } from './mail';

const CONFIRM_TTL_MS = 48 * 3600_000;
const RESET_TTL_MS = 3600_000;

/**
 * A1, A4: a sign-up. An email without a confirmed profile (a new one, or one signed up and never
 * confirmed) gets, off the request path, a confirmation email whose link carries this sign-up's
 * password and name, and the links of the sign-ups before it die: whoever follows a link from the
 * mailbox gets the password of the sign-up that link came from, and the newest sign-up always has a
 * link of its own. A confirmed account is kept; its owner is told by email ("you already have an
 * account"), and the sign-up's password is noted so that a login with it is answered as a new
 * email's (not confirmed). All do the same work here (one upsert, one update of links, one queued
 * email), so neither the answer nor its timing, nor a login after it, tells whether the email has a
 * profile.
 */
export function signUp(db: Db, input: { email: string; name: string; passwordHash: string; now: Date }) {
  const { name, passwordHash } = input;
  return db.transaction(async (tx) => {
    const profile = await signUpProfile(tx, input);
    await endLiveTokensOfProfile(tx, profile.id, 'confirm_email', input.now);
    await queueAccountEmail(tx, {
      kind: profile.confirmed ? 'account_exists' : 'confirm_email',
      email: normalizeEmail(input.email),
      token: newToken().token,
      ...(profile.confirmed ? {} : { signUp: { passwordHash, name } }),
    });
  });
}

/**
 * A1: following the confirmation link; false when the link was used or has expired, or can no longer
 * confirm its sign-up (a newer sign-up came: confirmSignUp). A profile confirmed meanwhile (a reset
 * link, an invitation) is left as it is. The profile's other confirmation links die with this one.
 * When the address was signed up with different passwords before anyone confirmed it, no sign-up's
 * password is kept (the newest link may be an attacker's, sent to the owner's mailbox): the email is
 * confirmed with `noOnesPasswordHash`, and whoever followed the link, the mailbox's owner, is given a
 * reset link to choose the password (`setPasswordToken`).
 */
export function confirmEmail(
  db: Db,
  input: { token: string; now: Date; noOnesPasswordHash: string },
): Promise<false | { setPasswordToken?: string }> {
  const { now } = input;
  return db.transaction(async (tx) => {
    const row = await findUsableToken(tx, 'confirm_email', input.token, now);
    if (!row?.profileId || row.passwordHash === null || row.name === null) return false;
    // Locked in one order with the profile's other live links; not among them: used meanwhile.
    const live = await lockTokensOfProfile(tx, row.profileId, 'confirm_email');
    if (!live.includes(row.id)) return false;
    const profile = await findProfileById(tx, row.profileId);
    if (!profile) return false;
    let setPasswordToken: string | undefined;
    if (!profile.emailConfirmedAt) {
      const itsSignUp = { name: row.name, passwordHash: row.passwordHash, emailConfirmedAt: now };
      const confirmed = await confirmSignUp(tx, row.profileId, itsSignUp, input.noOnesPasswordHash);
      if (!confirmed) return false;
      if (confirmed.contested)
        setPasswordToken = await issueEmailToken(tx, {
          kind: 'password_reset',
          profileId: row.profileId,
          ttlMs: RESET_TTL_MS,
          now,
        });
    }
    await markTokensUsed(tx, live, now);
    return setPasswordToken ? { setPasswordToken } : {};
  });
}

/**
 * A4: queues a reset email for the address, whether or not it has a profile; the relay sends it
 * only when it has one (deliverAccountEmail), so the request is alike for both.
 */
export async function requestPasswordReset(db: DbOrTx, input: { email: string }) {
  await queueAccountEmail(db, {
    kind: 'password_reset',
    email: normalizeEmail(input.email),
    token: newToken().token,
  });
}

/** Emails that arrive unasked (reset links, "you already have an account"), capped per address (A6). */
const UNASKED_TEMPLATES = ['password-reset', 'account-exists'];
/**
 * Confirmation emails, capped per address on their own: anyone may sign an unconfirmed email up again
 * and each sign-up sends one, but the first to a new address is never held up by others.
 */
const CONFIRM_TEMPLATES = ['confirm-email'];

/**
 * Sends one queued account email (the account-mail relay calls it in the transaction that deletes
 * the row). The email's link token was chosen when it was queued and its idempotency key is the
 * row's, so a send retried after a crash carries the same link and goes out once. Returns what was
 * done, for the relay's log (no address in it).
 */
export async function deliverAccountEmail(
  tx: DbOrTx,
  mailing: Mailing,
  row: AccountEmail,
  now: Date,
): Promise<'sent' | 'no_profile' | 'already_confirmed' | 'superseded' | 'capped'> {
  const profile = await findProfileByEmail(tx, row.email);
  if (!profile) return 'no_profile';
  const idempotencyKey = `${row.kind}:${row.id}`;
  const link = (path: string) => publicLink(mailing.publicBaseUrl, `${path}${row.token}`);
  // Its record is written in the relay's transaction, which holds the row (emails/mailer.ts).
  const send = <N extends TemplateName>(template: N, props: TemplateProps<N>) =>
    mailing.mailer.send({ to: profile.email, template, props, idempotencyKey }, tx);
  const capped = async (templates: string[]) => {
    // Another relay sending to this address now commits before this one counts.
    await lockAddressForSending(tx, profile.email);
    const recent = await countEmailsTo(tx, {
      to: profile.email,
      templates,
      since: new Date(now.getTime() - 3600_000),
      exceptKey: idempotencyKey,
    });
    return recent >= ACCOUNT_EMAILS_PER_HOUR;
  };

  if (row.kind === 'confirm_email') {
    if (profile.emailConfirmedAt) return 'already_confirmed';
    // A newer sign-up came (its own email follows): this link could not confirm anything.
    if (row.passwordHash === null || row.name === null || row.passwordHash !== profile.signupPasswordHash)
      return 'superseded';
    if (await capped(CONFIRM_TEMPLATES)) return 'capped';
    const expiresAt = new Date(now.getTime() + CONFIRM_TTL_MS);
    await storeEmailToken(tx, {
      kind: 'confirm_email',
      token: row.token,
      profileId: profile.id,
      expiresAt,
      signUp: { passwordHash: row.passwordHash, name: row.name },
    });
    await send('confirm-email', { name: row.name, confirmUrl: link('/auth/confirm/') });
    return 'sent';
  }

  if (await capped(UNASKED_TEMPLATES)) return 'capped';
  if (row.kind === 'account_exists') {
    await send('account-exists', { name: profile.name });
    return 'sent';
  }
  const expiresAt = new Date(now.getTime() + RESET_TTL_MS);
  await storeEmailToken(tx, { kind: 'password_reset', token: row.token, profileId: profile.id, expiresAt });
  await send('password-reset', { name: profile.name, resetUrl: link('/auth/password-reset/') });
  return 'sent';
}

/**
 * A4, A5: sets the new password through a reset link; false when the link was used or has expired.
 * Every other reset link of the profile dies with this one (an older email must not change the
 * password again), every signed-in session ends (A5), and following the link proves the email
 * address is theirs.
 */
export function resetPassword(
  db: Db,
  input: { token: string; passwordHash: string; now: Date },
): Promise<boolean> {
  const { now } = input;
  return db.transaction(async (tx) => {
    const row = await findUsableToken(tx, 'password_reset', input.token, now);
    if (!row?.profileId) return false;
    // This link and the profile's other live reset links, locked in one order: each dies with this
    // one. Not among them: used by another request, or gone with the profile, meanwhile.
    const live = await lockTokensOfProfile(tx, row.profileId, 'password_reset');
    if (!live.includes(row.id)) return false;
    await markTokensUsed(tx, live, now);
    const profile = await findProfileById(tx, row.profileId);
    await updateProfile(tx, row.profileId, {
      passwordHash: input.passwordHash,
      signupPasswordHash: null,
      emailConfirmedAt: profile?.emailConfirmedAt ?? now,
    });
    await deleteSessionsOfProfile(tx, row.profileId);
    return true;
  });
}

/**
 * A5: the signed-in caller changes their password (the current one already checked, against
 * `currentPasswordHash`): every session of the profile ends, the caller's too, and the new session is
 * opened. Only while the password is still the one checked: a reset or another change that came between
 * wins, and this one changes nothing (false); two changes at once cannot both succeed.
 */
export function changePassword(
  db: Db,
  input: {
    profileId: string;
    currentPasswordHash: string;
    passwordHash: string;
    tokenHash: string;
    expiresAt: Date;
  },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const changed = await setPasswordIfCurrent(tx, input.profileId, {
      current: input.currentPasswordHash,
      next: input.passwordHash,
    });
    if (!changed) return false;
    await deleteSessionsOfProfile(tx, input.profileId);
    await insertSession(tx, {
      tokenHash: input.tokenHash,
      profileId: input.profileId,
      expiresAt: input.expiresAt,
    });
    return true;
  });
}
