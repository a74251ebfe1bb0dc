import type { Mailer, OutgoingEmail } from '../emails/mailer';
import type { TemplateName } from '../emails/templates';
import { errorField, logger } from '../observability/logger';
import { problem } from './problem';

/**
 * Sends an email a change depends on (an invitation, a new PIN). Called inside the change's
 * transaction: when the email cannot go out, the change rolls back and the caller may retry.
 */
export async function sendOrUnavailable<N extends TemplateName>(mailer: Mailer, email: OutgoingEmail<N>) {
  try {
    await mailer.send(email);
  } catch (error) {
    logger.error({ template: email.template, err: errorField(error) }, 'email not sent');
    throw problem('email_unavailable');
  }
}
