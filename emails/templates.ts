import type { ReactElement } from 'react';
import AccountExists, { subject as accountExistsSubject } from './templates/account-exists';
import ConfirmEmail, { subject as confirmEmailSubject } from './templates/confirm-email';
import DeletionConsentReminder, {
  subject as deletionConsentReminderSubject,
} from './templates/deletion-consent-reminder';
import DeletionConsentRequest, {
  subject as deletionConsentRequestSubject,
} from './templates/deletion-consent-request';
import DeletionOutcomeSupport, {
  subject as deletionOutcomeSupportSubject,
} from './templates/deletion-outcome-support';
import EventDigest, { subject as eventDigestSubject } from './templates/event-digest';
import EventNotification, { subject as eventNotificationSubject } from './templates/event-notification';
import Invitation, { subject as invitationSubject } from './templates/invitation';
import OwnershipTransferred, {
  subject as ownershipTransferredSubject,
} from './templates/ownership-transferred';
import PasswordReset, { subject as passwordResetSubject } from './templates/password-reset';
import PinReset, { subject as pinResetSubject } from './templates/pin-reset';
import ProfileDeleted, { subject as profileDeletedSubject } from './templates/profile-deleted';
import RedemptionReceipt, { subject as redemptionReceiptSubject } from './templates/redemption-receipt';
import RolloutReport, { subject as rolloutReportSubject } from './templates/rollout-report';
import SubscriptionExpired, { subject as subscriptionExpiredSubject } from './templates/subscription-expired';
import SubscriptionReminder, {
  subject as subscriptionReminderSubject,
} from './templates/subscription-reminder';

interface Template<P> {
  component: (props: P) => ReactElement;
  subject: (props: P) => string;
  /**
   * Props the component only ever shows as text: rendered once per shape and filled in
   * (emails/shapes.ts); test/email/render-shapes.test.ts generates the props of each such template.
   */
  slots?: readonly (keyof P & string)[];
}

function template<P>(
  component: (props: P) => ReactElement,
  subject: (props: P) => string,
  slots?: readonly (keyof P & string)[],
): Template<P> {
  return slots ? { component, subject, slots } : { component, subject };
}

/** Every email the product sends, by the name stored with each sent message. */
export const templates = {
  'confirm-email': template(ConfirmEmail, confirmEmailSubject),
  'password-reset': template(PasswordReset, passwordResetSubject),
  'account-exists': template(AccountExists, accountExistsSubject),
  // Sent for every redemption, in bursts when many are redeemed at once (issue 15).
  'redemption-receipt': template(RedemptionReceipt, redemptionReceiptSubject, ['siteName', 'endsOn']),
  'subscription-reminder': template(SubscriptionReminder, subscriptionReminderSubject),
  'subscription-expired': template(SubscriptionExpired, subscriptionExpiredSubject),
  'deletion-consent-request': template(DeletionConsentRequest, deletionConsentRequestSubject),
  'deletion-consent-reminder': template(DeletionConsentReminder, deletionConsentReminderSubject),
  'deletion-outcome-support': template(DeletionOutcomeSupport, deletionOutcomeSupportSubject),
  'profile-deleted': template(ProfileDeleted, profileDeletedSubject),
  invitation: template(Invitation, invitationSubject),
  'ownership-transferred': template(OwnershipTransferred, ownershipTransferredSubject),
  'pin-reset': template(PinReset, pinResetSubject),
  'rollout-report': template(RolloutReport, rolloutReportSubject),
  'event-notification': template(EventNotification, eventNotificationSubject),
  'event-digest': template(EventDigest, eventDigestSubject),
};

export type TemplateName = keyof typeof templates;
export type TemplateProps<N extends TemplateName> = Parameters<(typeof templates)[N]['component']>[0];
