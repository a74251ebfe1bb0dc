import { and, eq, sql } from 'drizzle-orm';
import type { Resend } from 'resend';
import type { Db, DbOrTx } from '../db/client';
import { insertEmailOnce } from '../db/queries/sent-emails';
import { sentEmails } from '../db/schema';
import { renderEmail } from './render';
import type { TemplateName, TemplateProps } from './templates';

export interface OutgoingEmail<N extends TemplateName = TemplateName> {
  to: string;
  template: N;
  props: TemplateProps<N>;
  /** Same key, same email: a retried send never goes out twice. */
  idempotencyKey: string;
}

/** For processes and tests that must send nothing: every email is refused with `reason`. */
export const refusingMailer = (reason: string): Mailer => ({
  send: () => Promise.reject(new Error(reason)),
  queue: () => Promise.reject(new Error(reason)),
  sendQueued: () => Promise.reject(new Error(reason)),
});

/** What a send reads of an email's row. */
type RecordedEmail = Pick<
  typeof sentEmails.$inferSelect,
  'id' | 'idempotencyKey' | 'toAddress' | 'template' | 'subject' | 'html' | 'text'
>;

export interface SendResult {
  id: string;
  /** True when this key had already been sent and nothing went out now. */
  duplicate: boolean;
}

export interface Mailer {
  /**
   * `within`: the transaction of the change that sends it, which then writes the email's record too.
   * A transaction must never wait on a connection of its own pool: under load the pool's other
   * connections may all be queued behind statements that wait for the transaction's locks.
   */
  send<N extends TemplateName>(email: OutgoingEmail<N>, within?: DbOrTx): Promise<SendResult>;
  /**
   * Writes the email's row in `within`, the transaction of the change it tells of, without sending it:
   * the provider is not waited for while that transaction holds its locks, and a change rolled back
   * sends nothing. sendQueued sends it once `within` has committed. Without a provider the row is the
   * delivery. Undefined when the key had a row already.
   */
  queue<N extends TemplateName>(email: OutgoingEmail<N>, within: DbOrTx): Promise<SendResult | undefined>;
  /** Sends the queued email of this key (once: a sent one is a duplicate); undefined when there is none. */
  sendQueued(idempotencyKey: string): Promise<SendResult | undefined>;
}

export class EmailDeliveryError extends Error {
  constructor(
    message: string,
    /** The provider's HTTP status, when it answered. */
    readonly statusCode: number | null = null,
    /** False when sending the same email again cannot succeed (the provider refused its content). */
    readonly retryable = true,
  ) {
    super(message);
    this.name = 'EmailDeliveryError';
  }
}

/**
 * The longest a send waits for the provider. Sends run inside transactions that hold rows and locks
 * (a relay's claimed rows, a deletion's sites): a provider that accepts the connection and never
 * answers would hold them for as long as fetch waits (minutes). Unanswered, the send fails as
 * retryable and goes again under the same key, which the provider does not deliver twice.
 */
export const SEND_TIMEOUT_MS = 10_000;

/**
 * What a row keeps of its HTML and text once the provider has accepted the email: the provider holds
 * it now, and its one-time links and PINs must not stay readable here (D3: tokens only as a hash).
 */
export const BODY_NOT_KEPT = '[sent; body not kept]';

/**
 * An address in a provider's words (Resend's 403 quotes one: "You can only send testing emails to your
 * own email address (…)"): the error reaches logs and, thrown by an activity, workflow histories.
 */
const ADDRESS = /[^\s<>()[\]"'`,;:]+@[^\s<>()[\]"'`,;:]+/g;

/**
 * Records every email under its idempotency key, then delivers it through Resend (with the same key,
 * so the provider drops a repeat after a crash between its answer and our commit) and empties the
 * row's body (BODY_NOT_KEPT). Without a Resend client (development) the recorded row is the
 * delivery, body and all: /dev/mailbox reads it.
 */
export function createMailer(deps: {
  db: Db;
  from: string;
  resend?: Resend | undefined;
  /** How long the provider may take to answer one email (default SEND_TIMEOUT_MS). */
  sendTimeoutMs?: number;
}): Mailer {
  const { from, resend } = deps;
  const sendTimeoutMs = deps.sendTimeoutMs ?? SEND_TIMEOUT_MS;

  /**
   * The email's row under its key: its id when this call wrote it, undefined when the key had one.
   * Without a provider the row is the delivery, so a new one is written as sent at once (issue 15:
   * one statement instead of an insert and an update).
   */
  const record = async (db: DbOrTx, email: OutgoingEmail) => {
    const rendered = await renderEmail(email.template, email.props);
    const values = {
      idempotencyKey: email.idempotencyKey,
      toAddress: email.to.toLowerCase(),
      template: email.template,
      ...rendered,
    };
    const inserted = await insertEmailOnce(db, resend ? values : { ...values, sentAt: new Date() });
    return { values, inserted };
  };

  const rowOf = async (db: DbOrTx, idempotencyKey: string) =>
    (await db.select().from(sentEmails).where(eq(sentEmails.idempotencyKey, idempotencyKey)))[0];

  /** Sends a pending row through the provider under its key and marks it sent. */
  const deliver = async (db: DbOrTx, row: RecordedEmail): Promise<SendResult> => {
    let providerMessageId: string | null = null;
    if (resend) {
      const signal = AbortSignal.timeout(sendTimeoutMs);
      const { data, error } = await resend.emails.send(
        { from, to: row.toAddress, subject: row.subject, html: row.html, text: row.text },
        { idempotencyKey: row.idempotencyKey, signal },
      );
      if (error || !data) {
        await db
          .update(sentEmails)
          .set({ attempts: sql`${sentEmails.attempts} + 1` })
          .where(eq(sentEmails.id, row.id));
        const status = error?.statusCode ?? null;
        // 429, 5xx and a concurrent request with the same key pass; other 4xx (bad content) do not.
        const retryable =
          status === null ||
          status === 429 ||
          status >= 500 ||
          error?.name === 'concurrent_idempotent_requests';
        const why =
          status === null && signal.aborted
            ? `no answer within ${sendTimeoutMs} ms`
            : `${status ?? 'no status'} ${error?.name ?? 'no answer'}: ${error?.message ?? ''}`
                .replace(ADDRESS, '[address]')
                .trim();
        throw new EmailDeliveryError(
          `email provider refused ${row.template} (${row.idempotencyKey}): ${why}`,
          status,
          retryable,
        );
      }
      providerMessageId = data.id;
    }
    await db
      .update(sentEmails)
      .set({
        status: 'sent',
        sentAt: new Date(),
        providerMessageId,
        attempts: sql`${sentEmails.attempts} + 1`,
        // Without a provider the row is the delivery (the dev mailbox shows it): it keeps its body.
        ...(resend ? { html: BODY_NOT_KEPT, text: BODY_NOT_KEPT } : {}),
      })
      .where(and(eq(sentEmails.id, row.id), eq(sentEmails.status, 'pending')));
    return { id: row.id, duplicate: false };
  };

  return {
    async send(email, within) {
      const db = within ?? deps.db;
      const { values, inserted } = await record(db, email);
      if (inserted && !resend) return { id: inserted, duplicate: false };
      // Only the id came back: the body is what was just written (issue 15: returning the row sent
      // its HTML and text back to be parsed again). Read back only when the key was there already
      // (a retry): its first rendering is what is sent.
      const row = inserted
        ? { ...values, id: inserted, status: 'pending' as const }
        : await rowOf(db, email.idempotencyKey);
      if (!row) throw new EmailDeliveryError(`email row vanished for key ${email.idempotencyKey}`);
      if (row.status === 'sent') return { id: row.id, duplicate: true };
      return deliver(db, row);
    },

    async queue(email, within) {
      const { inserted } = await record(within, email);
      return inserted ? { id: inserted, duplicate: false } : undefined;
    },

    async sendQueued(idempotencyKey) {
      const row = await rowOf(deps.db, idempotencyKey);
      if (!row) return undefined;
      if (row.status === 'sent') return { id: row.id, duplicate: true };
      return deliver(deps.db, row);
    },
  };
}
