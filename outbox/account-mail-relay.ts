import type { Db } from '../db/client';
import { claimAccountEmails, deleteAccountEmail } from '../db/queries/account-emails';
import { EmailDeliveryError } from '../emails/mailer';
import { errorField, logger } from '../observability/logger';
import { deliverAccountEmail } from '../operations/accounts';
import type { Mailing } from '../operations/mail';
import { createRelayLoop, type RelayLoop } from './relay-loop';

/**
 * A4: sends the account emails that sign-up and password-reset requests queue (account_emails),
 * off the request path. The API kicks it after each such request; the worker sweeps every few
 * seconds, so an email provider outage only delays them. One row per transaction: the row stays
 * locked (other relays skip it) until it is sent and deleted; a failed send leaves it queued.
 */
export function createAccountMailRelay(deps: { db: Db; mailing: Mailing; now?: () => Date }): RelayLoop {
  const now = deps.now ?? (() => new Date());

  const one = () =>
    deps.db.transaction(async (tx) => {
      const [row] = await claimAccountEmails(tx, 1);
      if (!row) return false;
      let outcome: string;
      try {
        outcome = await deliverAccountEmail(tx, deps.mailing, row, now());
      } catch (error) {
        // The provider refused this email's content: sending it again cannot succeed.
        if (!(error instanceof EmailDeliveryError) || error.retryable) throw error;
        outcome = 'refused';
      }
      await deleteAccountEmail(tx, row.id);
      logger.debug({ accountEmailId: row.id, kind: row.kind, outcome }, 'account email handled');
      return true;
    });

  return createRelayLoop(async () => {
    let handled = 0;
    try {
      while (await one()) handled++;
    } catch (error) {
      logger.warn({ err: errorField(error) }, 'account email stays queued');
    }
    return handled;
  });
}
