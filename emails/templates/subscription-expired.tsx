import { Text } from '@react-email/components';
import { Layout, type SandboxNotice, sandboxSubject } from './layout';

export interface SubscriptionExpiredProps {
  siteName: string;
  sandbox?: SandboxNotice;
  endedOn: string;
}

export const subject = (p: SubscriptionExpiredProps) =>
  `${sandboxSubject(p)}${p.siteName}: subscription expired`;

export default function SubscriptionExpired(p: SubscriptionExpiredProps) {
  return (
    <Layout preview={`The subscription of ${p.siteName} has expired`} sandbox={p.sandbox}>
      <Text>
        The subscription of {p.siteName} expired on <strong>{p.endedOn}</strong>.
      </Text>
      <Text>
        Its IQs answer no lock request and its members cannot open remotely or change access. Keys already
        stored on the locks keep working offline.
      </Text>
      <Text>To restore the site, an owner or admin redeems a new voucher in the app under Subscription.</Text>
    </Layout>
  );
}

SubscriptionExpired.PreviewProps = {
  siteName: 'Head office',
  endedOn: '14 January 2028 at 10:00 (Europe/Zurich)',
} satisfies SubscriptionExpiredProps;
