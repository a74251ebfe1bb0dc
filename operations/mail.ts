import type { DbOrTx } from '../db/client';
import { endedToLetOthersOn } from '../db/errors';
import { Refusal } from '../domain/reasons';
import type { Mailer, OutgoingEmail } from '../emails/mailer';
import type { TemplateName } from '../emails/templates';
import { errorField, logger } from '../observability/logger';

/** What operations that email someone need: the mailer and where links in emails point. */
export interface Mailing {
  mailer: Mailer;
  /** PUBLIC_BASE_URL */
  publicBaseUrl: string;
}

/**
 * Sends an email a change depends on (an invitation, a new PIN) inside the change's transaction `tx`,
 * which also writes the email's record: when the email cannot go out, the refusal rolls the change
 * back and the caller may retry. A transaction PostgreSQL ended meanwhile is no refusal: it runs again
 * (db/client.ts).
 */
export async function sendOrRefuse<N extends TemplateName>(
  mailer: Mailer,
  email: OutgoingEmail<N>,
  tx: DbOrTx,
): Promise<void> {
  try {
    await mailer.send(email, tx);
  } catch (error) {
    if (endedToLetOthersOn(error)) throw error;
    logger.error({ template: email.template, err: errorField(error) }, 'email not sent');
    throw new Refusal('email_unavailable');
  }
}
