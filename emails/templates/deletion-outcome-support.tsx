import { Text } from '@react-email/components';
import { Layout } from './layout';

export type DeletionSupportOutcome = 'denied' | 'timed_out' | 'blocked_owner';

export interface DeletionOutcomeSupportProps {
  requestId: string;
  outcome: DeletionSupportOutcome;
  /** The sites that denied, did not answer, or are owned by the profile. */
  siteIds: string[];
}

const what: Record<DeletionSupportOutcome, string> = {
  denied: 'was denied by a site owner. Nothing was deleted.',
  timed_out: 'timed out: not every site owner answered within 30 days. Nothing was deleted.',
  blocked_owner:
    'cannot proceed: the profile owns a site. Ownership must be transferred before the profile can be deleted.',
};

export const subject = (p: DeletionOutcomeSupportProps) => `Profile deletion ${p.requestId}: ${p.outcome}`;

/** To support (D4, D5, D6). Ids only: support looks the rest up. */
export default function DeletionOutcomeSupport(p: DeletionOutcomeSupportProps) {
  return (
    <Layout preview={`Profile deletion ${p.outcome}`}>
      <Text>
        Profile deletion request {p.requestId} {what[p.outcome]}
      </Text>
      <Text>Sites: {p.siteIds.length > 0 ? p.siteIds.join(', ') : 'none'}</Text>
    </Layout>
  );
}

DeletionOutcomeSupport.PreviewProps = {
  requestId: '0b7e4d1e-5c1a-4f2e-9a57-1d2c3b4a5e6f',
  outcome: 'denied',
  siteIds: ['5f0c2a9e-8d1b-4c3a-b2e1-7a6f5d4c3b2a'],
} satisfies DeletionOutcomeSupportProps;
