import { and, asc, count, eq, gt, inArray, ne, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { accountEmails, sentEmails } from '../schema';

export type AccountEmail = typeof accountEmails.$inferSelect;
export type AccountEmailKind = AccountEmail['kind'];

/**
 * Queues an account email, a confirmation's with its sign-up. Done the same way whatever the email is
 * for (one statement, its text the same), so the request that queues it takes as long for an address
 * with a profile as without (A4).
 */
export async function queueAccountEmail(
  db: DbOrTx,
  values: {
    kind: AccountEmailKind;
    email: string;
    token: string;
    signUp?: { passwordHash: string; name: string };
  },
): Promise<void> {
  const { signUp, ...email } = values;
  await db
    .insert(accountEmails)
    .values({ ...email, passwordHash: signUp?.passwordHash ?? null, name: signUp?.name ?? null });
}

/** The oldest queued account emails, locked for this transaction; rows another relay holds are skipped. */
export function claimAccountEmails(tx: DbOrTx, limit: number): Promise<AccountEmail[]> {
  return tx
    .select()
    .from(accountEmails)
    .orderBy(asc(accountEmails.createdAt), asc(accountEmails.id))
    .limit(limit)
    .for('update', { skipLocked: true });
}

export async function deleteAccountEmail(tx: DbOrTx, id: string): Promise<void> {
  await tx.delete(accountEmails).where(eq(accountEmails.id, id));
}

/**
 * Queued account emails to an address go unsent (a deleted profile takes them along: D7); a row a
 * relay is sending is waited for.
 */
export async function deleteAccountEmailsTo(tx: DbOrTx, email: string): Promise<void> {
  await tx.delete(accountEmails).where(eq(accountEmails.email, email.toLowerCase()));
}

/**
 * Holds the address for this transaction: relays sending to it at once (the API's and the worker's)
 * take turns, so each counts the emails the others sent (A6's hourly cap). An advisory lock, not the
 * profile's row, so that no login or change waits behind an email provider's answer.
 */
export async function lockAddressForSending(tx: DbOrTx, email: string): Promise<void> {
  await tx.execute(
    sql`select pg_advisory_xact_lock(hashtextextended(${`account-email:${email.toLowerCase()}`}, 0))`,
  );
}

/** Emails of these templates recorded for an address since `since`, but the one with `exceptKey`. */
export async function countEmailsTo(
  db: DbOrTx,
  input: { to: string; templates: string[]; since: Date; exceptKey: string },
): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(sentEmails)
    .where(
      and(
        eq(sentEmails.toAddress, input.to.toLowerCase()),
        inArray(sentEmails.template, input.templates),
        gt(sentEmails.createdAt, input.since),
        ne(sentEmails.idempotencyKey, input.exceptKey),
      ),
    );
  return row?.n ?? 0;
}
