import { Text } from '@react-email/components';
import { Layout } from './layout';

export interface EventNotificationProps {
  siteName: string;
  /** e.g. "Tamper alarm". */
  label: string;
  /** In the site's time zone. */
  at: string;
  /** Lock and IQ. */
  place?: string | undefined;
  detail?: string | undefined;
}

export const subject = (p: EventNotificationProps) => `${p.siteName}: ${p.label}`;

export default function EventNotification(p: EventNotificationProps) {
  return (
    <Layout preview={`${p.label} at ${p.siteName}`}>
      <Text>
        <strong>{p.label}</strong> at {p.siteName}
        {p.place ? ` — ${p.place}` : ''}, {p.at}
        {p.detail ? ` ${p.detail}` : ''}.
      </Text>
      <Text>
        You receive this because you chose to be told of these events as the site's owner. Further events in
        the next minutes arrive together in one summary.
      </Text>
    </Layout>
  );
}

EventNotification.PreviewProps = {
  siteName: 'Head office',
  label: 'Tamper alarm',
  at: '14 January 2028 at 09:12 (Europe/Berlin)',
  place: 'Front door · Main entrance IQ',
} satisfies EventNotificationProps;
