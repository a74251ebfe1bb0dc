import { Text } from '@react-email/components';
import { Layout, type SandboxNotice, sandboxSubject, urgentStyle } from './layout';

export interface SubscriptionReminderProps {
  siteName: string;
  sandbox?: SandboxNotice;
  endsOn: string;
  daysLeft: 28 | 7 | 1;
  usersLimit: number;
  iqsLimit: number;
}

export const subject = (p: SubscriptionReminderProps) =>
  p.daysLeft === 1
    ? `${sandboxSubject(p)}Action needed: the subscription of ${p.siteName} ends in 1 day`
    : `${sandboxSubject(p)}${p.siteName}: subscription ends in ${p.daysLeft} days`;

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/** V6 in the words an owner needs. */
function AtTheEnd() {
  return (
    <Text>
      At the end, the site's IQs stop answering lock requests and take no changes of access rights, and its
      members lose their slots: no remote opening, no changes in the app. Keys already stored on the locks
      (tags, PINs, mobile keys) keep opening doors offline.
    </Text>
  );
}

/** V5: three reminders, each saying how long is left, what happens then and what to do. */
export default function SubscriptionReminder(p: SubscriptionReminderProps) {
  const limits = `${plural(p.usersLimit, 'user')} and ${plural(p.iqsLimit, 'IQ')}`;
  if (p.daysLeft === 28) {
    return (
      <Layout preview={`The subscription of ${p.siteName} ends in 28 days`} sandbox={p.sandbox}>
        <Text>
          The subscription of {p.siteName} ends in 28 days, on <strong>{p.endsOn}</strong>.
        </Text>
        <AtTheEnd />
        <Text>
          To keep the site running, redeem a new voucher before then: owners and admins can, in the app under
          Subscription. There is no need to wait for the last day: the time left carries over into the new
          term (scaled pro rata if the new voucher covers more users or IQs). The current term covers {limits}
          .
        </Text>
      </Layout>
    );
  }
  if (p.daysLeft === 7) {
    return (
      <Layout preview={`One week left on the subscription of ${p.siteName}`} sandbox={p.sandbox}>
        <Text>
          One week left: the subscription of {p.siteName} ends in 7 days, on <strong>{p.endsOn}</strong>.
        </Text>
        <Text>
          If you have no voucher yet, get one now from your installer or reseller (for at least {limits}, as
          today), so that it is there in time. Redeem it in the app under Subscription; the days still left
          carry over.
        </Text>
        <AtTheEnd />
      </Layout>
    );
  }
  return (
    <Layout preview={`Last day: the subscription of ${p.siteName} ends in 1 day`} sandbox={p.sandbox}>
      <Text style={urgentStyle}>
        Last day: the subscription of {p.siteName} ends in 1 day, on {p.endsOn}.
      </Text>
      <Text>
        Redeem a voucher today to keep the site running without interruption (owners and admins can, in the
        app under Subscription). It takes a minute, and the hours still left carry over.
      </Text>
      <AtTheEnd />
      <Text>
        A voucher redeemed after the end brings the site back, but until then doors open only with the keys
        already stored on the locks.
      </Text>
    </Layout>
  );
}

SubscriptionReminder.PreviewProps = {
  siteName: 'Head office',
  endsOn: '14 January 2028 at 10:00 (Europe/Zurich)',
  daysLeft: 7,
  usersLimit: 10,
  iqsLimit: 2,
} satisfies SubscriptionReminderProps;
