/**
 * A6 and N7 for the hourly cap on unasked account emails (operations/accounts.ts deliverAccountEmail),
 * on a real PostgreSQL: the API and the worker each run an account-mail relay, and each relay sends
 * one queued row per transaction, so two relays may send to one address at once. Each counts the
 * emails already recorded for the address; a record another relay has written but not committed
 * is invisible to that count, so without the address's lock both relays counted below the cap and
 * both sent (4 reset emails in an hour where the cap is 3).
 */
import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { insertProfile } from '../../db/queries/profiles';
import { sentEmails } from '../../db/schema';
import { ACCOUNT_EMAILS_PER_HOUR } from '../../domain/throttling';
import { createMailer, type Mailer } from '../../emails/mailer';
import { requestPasswordReset } from '../../operations/accounts';
import { createAccountMailRelay } from '../../outbox/account-mail-relay';
import { createTestDatabase } from '../support/database';
import { untilAnsweredOrWaiting } from '../support/lock-waits';

const BASE_URL = 'http://ks.test';
let database: Database;
let mailer: Mailer;

beforeAll(async () => {
  database = await createTestDatabase();
  mailer = createMailer({ db: database.db, from: 'KS Cloud <test@ks.test>' });
});
afterAll(async () => {
  await database?.close();
});

const relayWith = (m: Mailer) =>
  createAccountMailRelay({ db: database.db, mailing: { mailer: m, publicBaseUrl: BASE_URL } });

async function personWithResets(queued: number) {
  const email = `${randomUUID()}@example.test`;
  await insertProfile(database.db, {
    email,
    name: 'Forgetful Person',
    passwordHash: 'hash',
    emailConfirmedAt: new Date(),
  });
  for (let i = 0; i < queued; i++) await requestPasswordReset(database.db, { email });
  return email;
}

const resetsSentTo = async (email: string) =>
  (
    await database.db
      .select({ id: sentEmails.id })
      .from(sentEmails)
      .where(and(eq(sentEmails.toAddress, email), eq(sentEmails.template, 'password-reset')))
  ).length;

describe('two relays sending reset emails to one address at once (A6)', () => {
  it('a relay holding an uncommitted send makes the other wait: the cap holds at 3', async () => {
    // Two already sent; two more queued, one for each relay.
    const email = await personWithResets(ACCOUNT_EMAILS_PER_HOUR - 1);
    expect(await relayWith(mailer).handOver()).toBe(ACCOUNT_EMAILS_PER_HOUR - 1);
    for (let i = 0; i < 2; i++) await requestPasswordReset(database.db, { email });

    // The first relay writes its email's record, then is held (a provider slow to answer) before
    // its transaction commits.
    let reached!: () => void;
    const inSend = new Promise<void>((r) => {
      reached = r;
    });
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let held = true;
    const slowMailer: Mailer = {
      ...mailer,
      async send(outgoing, within) {
        const sent = await mailer.send(outgoing, within);
        if (held) {
          held = false;
          reached();
          await released;
        }
        return sent;
      },
    };
    const first = relayWith(slowMailer).handOver();
    await inSend;
    // The second relay takes the other row: it sends only after the first commits (it waits for the
    // address's lock), or, before the fix, at once.
    const second = relayWith(mailer).handOver();
    await untilAnsweredOrWaiting(database.sql, second);
    release();
    expect((await first) + (await second)).toBe(2);
    expect(await resetsSentTo(email)).toBe(ACCOUNT_EMAILS_PER_HOUR);
  });

  it('in generated bursts (2 to 4 relays, 2 to 8 queued rows), an address never gets more than 3', async () => {
    for (let round = 0; round < 20; round++) {
      const relays = 2 + (round % 3);
      const queued = 2 + ((round * 5) % 7);
      const email = await personWithResets(queued);
      const handed = await Promise.all(Array.from({ length: relays }, () => relayWith(mailer).handOver()));
      expect(handed.reduce((a, b) => a + b, 0)).toBe(queued);
      expect(await resetsSentTo(email)).toBe(Math.min(queued, ACCOUNT_EMAILS_PER_HOUR));
    }
  });
});
