import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db/client';
import { consumeToken, findUsableToken, issueEmailToken } from '../db/queries/email-tokens';
import {
  findProfileByEmail,
  findProfileById,
  insertProfile,
  normalizeEmail,
  updateProfile,
} from '../db/queries/profiles';
import { emailTokens } from '../db/schema';
import { Refusal } from '../domain/reasons';
import { errorField, logger } from '../observability/logger';
import type { Mailing } from './mail';

const CONFIRM_TTL_MS = 48 * 3600_000;
const RESET_TTL_MS = 3600_000;

/**
 * A1: a profile and its confirmation email, in one transaction up to the sent email: when the email
 * cannot be sent, no profile remains that blocks signing up again yet can never be confirmed.
 */
export function signUp(
  db: Db,
  mailing: Mailing,
  input: { email: string; name: string; passwordHash: string; now: Date },
) {
  return db.transaction(async (tx) => {
    const created = await insertProfile(tx, {
      email: input.email,
      name: input.name,
      passwordHash: input.passwordHash,
    });
    if (!created) throw new Refusal('email_taken');
    const token = await issueEmailToken(tx, {
      kind: 'confirm_email',
      profileId: created.id,
      ttlMs: CONFIRM_TTL_MS,
      now: input.now,
    });
    try {
      await mailing.mailer.send({
        to: created.email,
        template: 'confirm-email',
        props: {
          name: created.name,
          confirmUrl: new URL(`/auth/confirm/${token}`, mailing.publicBaseUrl).toString(),
        },
        idempotencyKey: `confirm-email:${created.id}`,
      });
    } catch (error) {
      logger.error({ template: 'confirm-email', err: errorField(error) }, 'email not sent');
      throw new Refusal('email_unavailable', 'The confirmation email could not be sent; try again shortly.');
    }
    return created;
  });
}

/** A1: following the confirmation link; false when the link was used or has expired. */
export function confirmEmail(db: Db, input: { token: string; now: Date }): Promise<boolean> {
  const { now } = input;
  return db.transaction(async (tx) => {
    const row = await findUsableToken(tx, 'confirm_email', input.token, now);
    if (!row?.profileId || !(await consumeToken(tx, row.id, now))) return false;
    await updateProfile(tx, row.profileId, { emailConfirmedAt: now });
    return true;
  });
}

/**
 * A4: emails a reset link when the email has a profile. Never tells whether it has: a failed email
 * is logged, not answered (the person asks again).
 */
export async function requestPasswordReset(db: Db, mailing: Mailing, input: { email: string; now: Date }) {
  const profile = await findProfileByEmail(db, normalizeEmail(input.email));
  if (!profile) return;
  const token = await issueEmailToken(db, {
    kind: 'password_reset',
    profileId: profile.id,
    ttlMs: RESET_TTL_MS,
    now: input.now,
  });
  try {
    await mailing.mailer.send({
      to: profile.email,
      template: 'password-reset',
      props: {
        name: profile.name,
        resetUrl: new URL(`/auth/password-reset/${token}`, mailing.publicBaseUrl).toString(),
      },
      idempotencyKey: `password-reset:${token.slice(0, 16)}`,
    });
  } catch (error) {
    // Answering an error here (and 202 for unknown emails) would tell which emails have an account
    // (A4). The person asks again; the log says why nothing arrived.
    logger.error({ template: 'password-reset', err: errorField(error) }, 'email not sent');
  }
}

/**
 * A4, A5: sets the new password through a reset link; false when the link was used or has expired.
 * Every other reset link of the profile dies with this one (an older email must not change the
 * password again), and following the link proves the email address is theirs.
 */
export function resetPassword(
  db: Db,
  input: { token: string; passwordHash: string; now: Date },
): Promise<boolean> {
  const { now } = input;
  return db.transaction(async (tx) => {
    const row = await findUsableToken(tx, 'password_reset', input.token, now);
    if (!row?.profileId || !(await consumeToken(tx, row.id, now))) return false;
    await tx
      .update(emailTokens)
      .set({ usedAt: now })
      .where(
        and(
          eq(emailTokens.profileId, row.profileId),
          eq(emailTokens.kind, 'password_reset'),
          isNull(emailTokens.usedAt),
        ),
      );
    const profile = await findProfileById(tx, row.profileId);
    await updateProfile(tx, row.profileId, {
      passwordHash: input.passwordHash,
      emailConfirmedAt: profile?.emailConfirmedAt ?? now,
    });
    return true;
  });
}
