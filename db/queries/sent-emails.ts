import { desc, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { rawStatement } from '../prepared';
import { sentEmails } from '../schema';

export type NewEmail = {
  idempotencyKey: string;
  toAddress: string;
  template: string;
  subject: string;
  html: string;
  text: string;
};

const insertOnce = rawStatement<
  NewEmail & { status: 'pending' | 'sent'; sentAt: string | null; attempts: number },
  { id: string }
>(
  (v) => sql`
    insert into sent_emails (idempotency_key, to_address, template, subject, html, text, status, sent_at, attempts)
    values (${v('idempotencyKey')}, ${v('toAddress')}, ${v('template')}, ${v('subject')}, ${v('html')},
      ${v('text')}, ${v('status')}::email_status, ${v('sentAt')}::timestamptz, ${v('attempts')}::int)
    on conflict (idempotency_key) do nothing
    returning id`,
);

/**
 * The email's row under its idempotency key, pending, or already `sent` at `sentAt` (development:
 * the row is the delivery); its id, or undefined when the key has a row already. One statement built
 * once (issue 15: drizzle built this insert, with the email's HTML and text, for every receipt).
 */
export async function insertEmailOnce(
  db: DbOrTx,
  email: NewEmail & { sentAt?: Date },
): Promise<string | undefined> {
  const { sentAt, ...values } = email;
  const [row] = await insertOnce(db, {
    ...values,
    status: sentAt ? 'sent' : 'pending',
    sentAt: sentAt?.toISOString() ?? null,
    attempts: sentAt ? 1 : 0,
  });
  return row?.id;
}

/** How many emails the development mailbox lists, the newest. */
export const MAILBOX_SIZE = 200;

export async function listMailbox(db: DbOrTx, limit = MAILBOX_SIZE) {
  return db
    .select({
      id: sentEmails.id,
      to: sentEmails.toAddress,
      subject: sentEmails.subject,
      template: sentEmails.template,
      sentAt: sentEmails.sentAt,
    })
    .from(sentEmails)
    .orderBy(desc(sentEmails.createdAt))
    .limit(limit);
}

export async function findSentEmail(db: DbOrTx, id: string) {
  const [row] = await db.select().from(sentEmails).where(eq(sentEmails.id, id));
  return row;
}
