import { Text } from '@react-email/components';
import { Layout } from './layout';

export interface EventDigestProps {
  siteName: string;
  total: number;
  counts: Array<{ label: string; count: number }>;
  /** Oldest first; times in the site's time zone. */
  events: Array<{ label: string; at: string; place?: string | undefined; detail?: string | undefined }>;
  /** Events counted but not listed. */
  more: number;
}

export const subject = (p: EventDigestProps) =>
  `${p.siteName}: ${p.total} event${p.total === 1 ? '' : 's'} you asked to be told of`;

export default function EventDigest(p: EventDigestProps) {
  return (
    <Layout preview={`${p.total} events at ${p.siteName}`}>
      <Text>
        {p.total} event{p.total === 1 ? '' : 's'} at {p.siteName} since our last message:{' '}
        {p.counts.map((c) => `${c.count} × ${c.label}`).join(', ')}.
      </Text>
      {p.events.map((e, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: a static list in an email
        <Text key={i} style={{ margin: '2px 0' }}>
          {e.at} — {e.label}
          {e.place ? ` — ${e.place}` : ''}
          {e.detail ? ` ${e.detail}` : ''}
        </Text>
      ))}
      {p.more > 0 ? (
        <Text>… and {p.more} more. The site's event list in the app shows every one.</Text>
      ) : null}
    </Layout>
  );
}

EventDigest.PreviewProps = {
  siteName: 'Head office',
  total: 3,
  counts: [
    { label: 'Refused opening', count: 2 },
    { label: 'Door left open', count: 1 },
  ],
  events: [
    { label: 'Refused opening', at: '14 January 2028 at 09:12 (Europe/Berlin)', place: 'Front door' },
    { label: 'Refused opening', at: '14 January 2028 at 09:13 (Europe/Berlin)', place: 'Front door' },
    { label: 'Door left open', at: '14 January 2028 at 09:15 (Europe/Berlin)', place: 'Back door' },
  ],
  more: 0,
} satisfies EventDigestProps;
