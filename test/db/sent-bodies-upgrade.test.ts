/**
 * Migration 0021 on a database in use: emails a provider accepted before it kept their bodies (their
 * one-time links); after it they keep none, while development mailbox rows and pending rows keep theirs.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyMigrations, type Database } from '../../db/client';
import { BODY_NOT_KEPT } from '../../emails/mailer';
import { migratedBefore } from '../support/migrated-before';

let url: string;
let database: Database;
let close: () => Promise<void> = async () => {};

beforeAll(async () => {
  ({ url, database, close } = await migratedBefore('0021_sent_email_bodies_not_kept'));
});
afterAll(() => close());

it('empties the bodies of emails a provider accepted, and only theirs', async () => {
  const { db } = database;
  await db.execute(sql`insert into sent_emails
    (idempotency_key, to_address, template, subject, html, text, status, provider_message_id) values
    ('by-provider', 'a@x.test', 'password-reset', 'Reset', '<p>/auth/password-reset/t1</p>', '/auth/password-reset/t1', 'sent', 'msg_1'),
    ('dev-mailbox', 'a@x.test', 'password-reset', 'Reset', '<p>/auth/password-reset/t2</p>', '/auth/password-reset/t2', 'sent', null),
    ('pending', 'a@x.test', 'password-reset', 'Reset', '<p>/auth/password-reset/t3</p>', '/auth/password-reset/t3', 'pending', null)`);

  await applyMigrations(url);

  const rows = await db.execute<{ idempotency_key: string; html: string; text: string }>(
    sql`select idempotency_key, html, text from sent_emails order by idempotency_key`,
  );
  expect(rows.map((r) => [r.idempotency_key, r.html, r.text])).toEqual([
    ['by-provider', BODY_NOT_KEPT, BODY_NOT_KEPT],
    ['dev-mailbox', '<p>/auth/password-reset/t2</p>', '/auth/password-reset/t2'],
    ['pending', '<p>/auth/password-reset/t3</p>', '/auth/password-reset/t3'],
  ]);
});
