import { desc, eq } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { sentEmails } from '../schema';

export async function listMailbox(db: DbOrTx, limit = 200) {
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
