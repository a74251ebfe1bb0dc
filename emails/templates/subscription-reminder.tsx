import { Text } from '@react-email/components';
import { Layout, type SandboxNotice, sandboxSubject, urgentStyle } from './layout';

export interface SubscriptionReminderProps {
  siteName: string;
  sandbox?: SandboxNotice;
  endsOn: string;
  /** Which of the three reminders (V5): what it says beyond the count. */
  offsetDays: 28 | 7 | 1;
  /** The days truly left, counted up: the offset when the reminder is on time, fewer when it is late. */
  daysLeft: number;
  usersLimit: number;
  iqsLimit: number;
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

export const subject = (p: SubscriptionReminderProps) =>
  p.offsetDays === 1
    ? `${sandboxSubject(p)}Action needed: the subscription of ${p.siteName} ends in ${plural(p.daysLeft, 'day')}`
    : `${sandboxSubject(p)}${p.siteName}: subscription ends in ${plural(p.daysLeft, 'day')}`;

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
  const left = plural(p.daysLeft, 'day');
  if (p.offsetDays === 28) {
    return (
      <Layout preview={`The subscription of ${p.siteName} ends in ${left}`} sandbox={p.sandbox}>
        <Text>
          The subscription of {p.siteName} ends in {left}, on <strong>{p.endsOn}</strong>.
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
  if (p.offsetDays === 7) {
    const week = p.daysLeft === 7 ? 'One week left' : `${left} left`;
    return (
      <Layout preview={`${week} on the subscription of ${p.siteName}`} sandbox={p.sandbox}>
        <Text>
          {week}: the subscription of {p.siteName} ends in {left}, on <strong>{p.endsOn}</strong>.
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
    <Layout preview={`Last day: the subscription of ${p.siteName} ends in ${left}`} sandbox={p.sandbox}>
      <Text style={urgentStyle}>
        Last day: the subscription of {p.siteName} ends in {left}, on {p.endsOn}.
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
  offsetDays: 7,
  daysLeft: 7,
  usersLimit: 10,
  iqsLimit: 2,
} satisfies SubscriptionReminderProps;
