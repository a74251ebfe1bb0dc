import { Text } from '@react-email/components';
import { Layout } from './layout';

export interface SubscriptionReminderProps {
  siteName: string;
  endsOn: string;
  daysLeft: 28 | 7 | 1;
}

export const subject = (p: SubscriptionReminderProps) =>
  `${p.siteName}: subscription ends in ${p.daysLeft} ${p.daysLeft === 1 ? 'day' : 'days'}`;

export default function SubscriptionReminder(p: SubscriptionReminderProps) {
  return (
    <Layout preview={`The subscription of ${p.siteName} ends on ${p.endsOn}`}>
      <Text>
        The subscription of {p.siteName} ends on <strong>{p.endsOn}</strong>.
      </Text>
      <Text>
        After that, locks answer no remote opening and access rights cannot change. Redeem a new voucher
        before then to keep the site running; the remaining time carries over.
      </Text>
    </Layout>
  );
}

SubscriptionReminder.PreviewProps = {
  siteName: 'Head office',
  endsOn: '14 January 2028',
  daysLeft: 7,
} satisfies SubscriptionReminderProps;
