import { and, asc, eq, gt, inArray, isNull } from 'drizzle-orm';
import { hashToken, newToken } from '../../domain/secrets';
import type { DbOrTx } from '../client';
import { emailTokens } from '../schema';

export type EmailTokenKind = (typeof emailTokens.$inferSelect)['kind'];

export async function issueEmailToken(
  db: DbOrTx,
  values: { kind: EmailTokenKind; profileId: string; ttlMs: number; now: Date },
): Promise<string> {
  const { token, hash } = newToken();
  await db.insert(emailTokens).values({
    kind: values.kind,
    tokenHash: hash,
    profileId: values.profileId,
    expiresAt: new Date(values.now.getTime() + values.ttlMs),
  });
  return token;
}

/**
 * Stores the hash of a token chosen earlier (an account email's, chosen when it was queued so a
 * retried send carries the same link), with a confirmation link's sign-up. Storing it again is a no-op.
 */
export async function storeEmailToken(
  db: DbOrTx,
  values: {
    kind: EmailTokenKind;
    token: string;
    profileId: string;
    expiresAt: Date;
    signUp?: { passwordHash: string; name: string };
  },
): Promise<void> {
  await db
    .insert(emailTokens)
    .values({
      kind: values.kind,
      tokenHash: hashToken(values.token),
      profileId: values.profileId,
      expiresAt: values.expiresAt,
      ...values.signUp,
    })
    .onConflictDoNothing({ target: emailTokens.tokenHash });
}

/** A usable token of that kind: exists, not used, not expired. */
export async function findUsableToken(db: DbOrTx, kind: EmailTokenKind, token: string, now: Date) {
  const [row] = await db
    .select()
    .from(emailTokens)
    .where(
      and(
        eq(emailTokens.tokenHash, hashToken(token)),
        eq(emailTokens.kind, kind),
        isNull(emailTokens.usedAt),
        gt(emailTokens.expiresAt, now),
      ),
    );
  return row;
}

/**
 * Locks the profile's tokens, in id order: the unused ones of `kind`, or with `kind` omitted every one.
 * Whoever changes several tokens of a profile (a reset kills its siblings, a deletion removes them
 * all) takes them through here, in one order, so two at once wait in turn instead of deadlocking.
 * The ids locked.
 */
export async function lockTokensOfProfile(
  db: DbOrTx,
  profileId: string,
  kind?: EmailTokenKind,
): Promise<string[]> {
  const rows = await db
    .select({ id: emailTokens.id })
    .from(emailTokens)
    .where(
      kind
        ? and(eq(emailTokens.profileId, profileId), eq(emailTokens.kind, kind), isNull(emailTokens.usedAt))
        : eq(emailTokens.profileId, profileId),
    )
    .orderBy(asc(emailTokens.id))
    .for('update');
  return rows.map((r) => r.id);
}

/** Marks these tokens used. */
export async function markTokensUsed(db: DbOrTx, ids: readonly string[], now: Date): Promise<void> {
  if (ids.length > 0) await db.update(emailTokens).set({ usedAt: now }).where(inArray(emailTokens.id, ids));
}

/**
 * The profile's live tokens of `kind` die, in one statement (the same work whether there are any), taken
 * in lockTokensOfProfile's order.
 */
export async function endLiveTokensOfProfile(
  db: DbOrTx,
  profileId: string,
  kind: EmailTokenKind,
  now: Date,
): Promise<void> {
  const live = db
    .select({ id: emailTokens.id })
    .from(emailTokens)
    .where(and(eq(emailTokens.profileId, profileId), eq(emailTokens.kind, kind), isNull(emailTokens.usedAt)))
    .orderBy(asc(emailTokens.id))
    .for('update');
  await db.update(emailTokens).set({ usedAt: now }).where(inArray(emailTokens.id, live));
}

/** Every token of the profile goes (D7), taken in lockTokensOfProfile's order. */
export async function deleteTokensOfProfile(db: DbOrTx, profileId: string): Promise<void> {
  const ids = await lockTokensOfProfile(db, profileId);
  if (ids.length > 0) await db.delete(emailTokens).where(inArray(emailTokens.id, ids));
}
