import { Link, Text } from '@react-email/components';
import { Layout } from './layout';

export type DeletionSupportOutcome = 'denied' | 'timed_out' | 'blocked_owner';

export interface DeletionOutcomeSupportProps {
  requestId: string;
  outcome: DeletionSupportOutcome;
  /** The sites that denied, did not answer, or are owned by the profile. */
  siteIds: string[];
  /** `GET /support/profile-deletions/:id` of this request (a support bearer token reads it). */
  requestUrl: string;
}

const what: Record<DeletionSupportOutcome, string> = {
  denied: 'was denied by a site owner. Nothing was deleted.',
  timed_out: 'timed out: not every site owner answered within 30 days. Nothing was deleted.',
  blocked_owner:
    'is blocked: the profile owns a site (D6). Nothing was asked and nothing was deleted; the request has ended.',
};

const sitesHeading: Record<DeletionSupportOutcome, string> = {
  denied: 'Sites whose owner denied',
  timed_out: 'Sites whose owner did not answer',
  blocked_owner: 'Sites the profile owns',
};

/** What support does next, step by step. */
const todo: Record<DeletionSupportOutcome, string[]> = {
  blocked_owner: [
    'Tell the person that each site below needs a new owner before their profile can be deleted.',
    'The person, as owner, hands each site to one of its admins: POST /sites/{siteId}/ownership with {"profileId": "{the admin’s profile id}"} (an owner who has no admin first invites one).',
    'Once they own no site, file the deletion again: POST /support/profile-deletions with their email.',
  ],
  denied: [
    'Tell the person that a site owner denied the deletion of their data at that site.',
    'The request has ended. If the person asks again later, file a new request: every site is asked again.',
  ],
  timed_out: [
    'Reach the owners of the sites below (GET /sites/{siteId}/people names the owner), and tell the person.',
    'File the deletion again when the owners are ready to answer: each gets a new link and 30 days.',
  ],
};

export const subject = (p: DeletionOutcomeSupportProps) => `Profile deletion ${p.requestId}: ${p.outcome}`;

/** To support (D4, D5, D6): what happened, what to do, and the request. Ids only: support looks the rest up. */
export default function DeletionOutcomeSupport(p: DeletionOutcomeSupportProps) {
  return (
    <Layout preview={`Profile deletion ${p.outcome}: what to do`}>
      <Text>
        Profile deletion request {p.requestId} {what[p.outcome]}
      </Text>
      <Text>
        {sitesHeading[p.outcome]}: {p.siteIds.length > 0 ? p.siteIds.join(', ') : 'none'}
      </Text>
      <Text>What to do:</Text>
      {todo[p.outcome].map((step, i) => (
        <Text key={step}>
          {i + 1}. {step}
        </Text>
      ))}
      <Text>
        The request: <Link href={p.requestUrl}>{p.requestUrl}</Link> (GET with a support token).
      </Text>
    </Layout>
  );
}

DeletionOutcomeSupport.PreviewProps = {
  requestId: '0b7e4d1e-5c1a-4f2e-9a57-1d2c3b4a5e6f',
  outcome: 'blocked_owner',
  siteIds: ['5f0c2a9e-8d1b-4c3a-b2e1-7a6f5d4c3b2a'],
  requestUrl: 'http://localhost:3000/support/profile-deletions/0b7e4d1e-5c1a-4f2e-9a57-1d2c3b4a5e6f',
} satisfies DeletionOutcomeSupportProps;
