import { and, eq, isNull, sql } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../client';
import { preparedPer } from '../prepared';
import { profiles } from '../schema';
import { membershipsJsonOf } from './memberships';

export type Profile = typeof profiles.$inferSelect;

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export async function findProfileByEmail(db: DbOrTx, email: string): Promise<Profile | undefined> {
  const [row] = await db
    .select()
    .from(profiles)
    .where(eq(profiles.email, normalizeEmail(email)));
  return row;
}

/** The profile of the email, its row locked until the transaction ends (a change decided on what it read). */
export async function lockProfileByEmail(tx: Tx, email: string): Promise<Profile | undefined> {
  const [row] = await tx
    .select()
    .from(profiles)
    .where(eq(profiles.email, normalizeEmail(email)))
    .for('update');
  return row;
}

export async function findProfileById(db: DbOrTx, id: string): Promise<Profile | undefined> {
  const [row] = await db.select().from(profiles).where(eq(profiles.id, id));
  return row;
}

/** Inserts a profile unless the email is taken; returns undefined when it is. */
export async function insertProfile(
  db: DbOrTx,
  values: { email: string; name: string; passwordHash: string; emailConfirmedAt?: Date | null },
): Promise<Profile | undefined> {
  const [row] = await db
    .insert(profiles)
    .values({ ...values, email: normalizeEmail(values.email) })
    .onConflictDoNothing({ target: profiles.email })
    .returning();
  return row;
}

export async function updateProfile(
  db: DbOrTx,
  id: string,
  values: Partial<
    Pick<Profile, 'name' | 'passwordHash' | 'signupPasswordHash' | 'emailConfirmedAt' | 'platformRole'>
  >,
): Promise<Profile | undefined> {
  const [row] = await db.update(profiles).set(values).where(eq(profiles.id, id)).returning();
  return row;
}

/**
 * A1, A4: a sign-up's one statement, alike for a new email and a taken one. A new email gets its
 * profile (not confirmed); a taken one keeps its account, and only the sign-up's password is noted
 * (signupPasswordHash), so a login with it is answered as for a new email, and only this sign-up's
 * confirmation link can confirm the profile while it is unconfirmed (confirmSignUp). The note goes once
 * the address's owner sets or confirms a password (a confirmation, a reset, a change, an invitation's
 * account).
 */
export async function signUpProfile(
  db: DbOrTx,
  values: { email: string; name: string; passwordHash: string },
): Promise<{ id: string; created: boolean; confirmed: boolean }> {
  const [row] = await db
    .insert(profiles)
    .values({ ...values, email: normalizeEmail(values.email), signupPasswordHash: values.passwordHash })
    .onConflictDoUpdate({
      target: profiles.email,
      set: {
        signupPasswordHash: sql`excluded.signup_password_hash`,
        // Read from the row before this update: another sign-up while unconfirmed contests it (each
        // hash is salted, so even the same password's differs).
        signupContested: sql`${profiles.signupContested} or (${profiles.emailConfirmedAt} is null and ${profiles.signupPasswordHash} is distinct from excluded.signup_password_hash)`,
      },
    })
    // xmax is 0 on a row this statement inserted, the updating transaction's id on one it updated.
    .returning({
      id: profiles.id,
      created: sql<boolean>`(xmax = 0)`,
      confirmed: sql<boolean>`(${profiles.emailConfirmedAt} is not null)`,
    });
  return row!;
}

/**
 * A1: following a confirmation link. The profile takes the name of the sign-up whose link it is, and
 * its password unless the address was signed up more than once (contested: then no one's), and is
 * confirmed, only while it is unconfirmed and that sign-up is still the newest; undefined otherwise (a
 * newer sign-up's own link confirms that one, and an older link never confirms a newer sign-up's
 * password, nor a newer link an older one's).
 */
export async function confirmSignUp(
  db: DbOrTx,
  id: string,
  link: { name: string; passwordHash: string; emailConfirmedAt: Date },
  /** What the password becomes when the sign-ups were contested: no one's. */
  noOnesPasswordHash: string,
): Promise<{ contested: boolean } | undefined> {
  const [row] = await db
    .update(profiles)
    .set({
      name: link.name,
      emailConfirmedAt: link.emailConfirmedAt,
      passwordHash: sql`case when ${profiles.signupContested} then ${noOnesPasswordHash} else ${link.passwordHash} end`,
      signupPasswordHash: null,
      signupContested: false,
    })
    .where(
      and(
        eq(profiles.id, id),
        isNull(profiles.emailConfirmedAt),
        eq(profiles.signupPasswordHash, link.passwordHash),
      ),
    )
    // The row as it was is not returned by UPDATE: the new password tells which case it took.
    .returning({ contested: sql<boolean>`${profiles.passwordHash} = ${noOnesPasswordHash}` });
  return row;
}

/**
 * Gives a profile that was signed up but never confirmed the name and password of the person who
 * proved the address (an invitation's link), and confirms it; false when it was confirmed meanwhile.
 */
export async function claimUnconfirmedProfile(
  db: DbOrTx,
  id: string,
  values: { name: string; passwordHash: string; emailConfirmedAt: Date },
): Promise<boolean> {
  const [row] = await db
    .update(profiles)
    .set({ ...values, signupPasswordHash: null })
    .where(and(eq(profiles.id, id), isNull(profiles.emailConfirmedAt)))
    .returning({ id: profiles.id });
  return row !== undefined;
}

/** The profile's new password, set only while its password is still `current`; false when it was not. */
export async function setPasswordIfCurrent(
  db: DbOrTx,
  id: string,
  hashes: { current: string; next: string },
): Promise<boolean> {
  const [row] = await db
    .update(profiles)
    .set({ passwordHash: hashes.next, signupPasswordHash: null })
    .where(and(eq(profiles.id, id), eq(profiles.passwordHash, hashes.current)))
    .returning({ id: profiles.id });
  return row !== undefined;
}

const renamed = preparedPer((db) =>
  db
    .update(profiles)
    .set({ name: sql`${sql.placeholder('name')}` })
    .where(eq(profiles.id, sql.placeholder('id')))
    .returning({ name: profiles.name, membershipsJson: membershipsJsonOf(sql.placeholder('id')) })
    .prepare('rename_profile'),
);

/**
 * PATCH /me: the profile's new name, and its memberships as /me answers them (membershipsJsonOf), in
 * one statement (issue 15). Undefined when the profile is gone.
 */
export async function renameProfile(
  db: DbOrTx,
  id: string,
  name: string,
): Promise<{ name: string; membershipsJson: string } | undefined> {
  const [row] = await renamed(db).execute({ id, name });
  return row;
}
