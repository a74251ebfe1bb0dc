import type { ReactElement } from 'react';
import ConfirmEmail, { subject as confirmEmailSubject } from './templates/confirm-email';
import PasswordReset, { subject as passwordResetSubject } from './templates/password-reset';
import RedemptionReceipt, { subject as redemptionReceiptSubject } from './templates/redemption-receipt';
import SubscriptionExpired, { subject as subscriptionExpiredSubject } from './templates/subscription-expired';
import SubscriptionReminder, {
  subject as subscriptionReminderSubject,
} from './templates/subscription-reminder';

interface Template<P> {
  component: (props: P) => ReactElement;
  subject: (props: P) => string;
}

function template<P>(component: (props: P) => ReactElement, subject: (props: P) => string): Template<P> {
  return { component, subject };
}

/** Every email the product sends, by the name stored with each sent message. */
export const templates = {
  'confirm-email': template(ConfirmEmail, confirmEmailSubject),
  'password-reset': template(PasswordReset, passwordResetSubject),
  'redemption-receipt': template(RedemptionReceipt, redemptionReceiptSubject),
  'subscription-reminder': template(SubscriptionReminder, subscriptionReminderSubject),
  'subscription-expired': template(SubscriptionExpired, subscriptionExpiredSubject),
};

export type TemplateName = keyof typeof templates;
export type TemplateProps<N extends TemplateName> = Parameters<(typeof templates)[N]['component']>[0];
