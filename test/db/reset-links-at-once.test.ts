/**
 * A4, A5 and N7 for password resets (operations/accounts.ts resetPassword), on a real PostgreSQL:
 * several reset links of one profile followed at once. Each reset kills the profile's other links, so
 * each takes them all; in the order lockTokensOfProfile gives, one waits for the other instead of
 * deadlocking (before it, the rounds here met a deadlock, which the API answers 500). Exactly one
 * changes the password; the others find their link spent.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { issueEmailToken } from '../../db/queries/email-tokens';
import { insertProfile } from '../../db/queries/profiles';
import { profiles } from '../../db/schema';
import { resetPassword } from '../../operations/accounts';
import { createTestDatabase } from '../support/database';

let database: Database;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

describe('reset links of one profile followed at once', () => {
  it('one changes the password, the others find their link spent, none fails', async () => {
    for (let round = 0; round < 30; round++) {
      const person = await insertProfile(database.db, {
        email: `${randomUUID()}@example.test`,
        name: 'Forgetful Person',
        passwordHash: 'old',
        emailConfirmedAt: new Date(),
      });
      const links = [];
      for (let i = 0; i < 3; i++) {
        links.push(
          await issueEmailToken(database.db, {
            kind: 'password_reset',
            profileId: person!.id,
            ttlMs: 3_600_000,
            now: new Date(),
          }),
        );
      }
      const answers = await Promise.all(
        links.map((token, i) =>
          resetPassword(database.db, { token, passwordHash: `new ${i}`, now: new Date() }),
        ),
      );
      expect(answers.filter(Boolean)).toHaveLength(1);
      const [stored] = await database.db
        .select({ passwordHash: profiles.passwordHash })
        .from(profiles)
        .where(eq(profiles.id, person!.id));
      expect(stored?.passwordHash).toBe(`new ${answers.indexOf(true)}`);
    }
  });
});
