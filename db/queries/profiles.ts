import { and, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
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
  values: Partial<Pick<Profile, 'name' | 'passwordHash' | 'emailConfirmedAt' | 'platformRole'>>,
): Promise<Profile | undefined> {
  const [row] = await db.update(profiles).set(values).where(eq(profiles.id, id)).returning();
  return row;
}

/** The profile's new password, set only while its password is still `current`; false when it was not. */
export async function setPasswordIfCurrent(
  db: DbOrTx,
  id: string,
  hashes: { current: string; next: string },
): Promise<boolean> {
  const [row] = await db
    .update(profiles)
    .set({ passwordHash: hashes.next })
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
