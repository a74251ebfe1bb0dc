/**
 * Migration 0022 on a database in use: confirmation links sent before it carried no sign-up. A live
 * link of a profile signed up once is that sign-up's (its password and name are the profile's) and is
 * bound to it; a live link of a profile signed up again (signup_password_hash differs) dies, as the
 * newer sign-up would kill it now; a confirmation email still queued is bound the same way, or stays
 * unbound and goes unsent. The database is first brought to the migration before it with the
 * committed files, as a deployment of the previous version left it.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyMigrations, type Database } from '../../db/client';
import { migratedBefore } from '../support/migrated-before';

let url: string;
let database: Database;
let close: () => Promise<void> = async () => {};

beforeAll(async () => {
  ({ url, database, close } = await migratedBefore('0022_confirm_link_sign_up'));
});
afterAll(() => close());

it('binds the links and queued emails of a profile signed up once; a profile signed up again loses its old link', async () => {
  const { db } = database;
  const once = `once-${randomUUID()}@example.test`;
  const again = `again-${randomUUID()}@example.test`;
  await db.execute(sql`insert into profiles (email, name, password_hash, signup_password_hash) values
    (${once}, 'Only', 'hash-only', 'hash-only'),
    (${again}, 'Mallory', 'hash-attacker', 'hash-owner')`);
  await db.execute(sql`insert into email_tokens (kind, token_hash, profile_id, expires_at)
    select 'confirm_email', 'token-' || email, id, now() + interval '1 day' from profiles
    where email in (${once}, ${again})`);
  await db.execute(sql`insert into account_emails (kind, email, token) values
    ('confirm_email', ${once}, 'queued-once'), ('confirm_email', ${again}, 'queued-again')`);

  await applyMigrations(url);

  const tokens = await db.execute<{
    email: string;
    password_hash: string | null;
    name: string | null;
    used: boolean;
  }>(
    sql`select p.email, t.password_hash, t.name, t.used_at is not null as used
      from email_tokens t join profiles p on p.id = t.profile_id where p.email in (${once}, ${again})`,
  );
  expect(Object.fromEntries(tokens.map((t) => [t.email, [t.password_hash, t.name, t.used]]))).toEqual({
    [once]: ['hash-only', 'Only', false],
    [again]: [null, null, true],
  });
  const queued = await db.execute<{ email: string; password_hash: string | null; name: string | null }>(
    sql`select email, password_hash, name from account_emails where email in (${once}, ${again})`,
  );
  expect(Object.fromEntries(queued.map((q) => [q.email, [q.password_hash, q.name]]))).toEqual({
    [once]: ['hash-only', 'Only'],
    [again]: [null, null],
  });
});
