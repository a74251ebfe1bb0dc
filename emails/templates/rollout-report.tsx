import { Text } from '@react-email/components';
import type { Counts } from '../../domain/rollout';
import { Layout } from './layout';

export interface RolloutReportProps {
  rolloutId: string;
  releaseId: string;
  status: 'running' | 'paused' | 'completed' | 'aborted';
  abortReason: string | null;
  counts: Counts;
}

export const subject = (p: RolloutReportProps) => `Firmware rollout ${p.rolloutId}: ${p.status}`;

/** To support at the end of a rollout (F4, F5). Ids and counts only: support looks the rest up. */
export default function RolloutReport(p: RolloutReportProps) {
  const c = p.counts;
  return (
    <Layout preview={`Firmware rollout ${p.status}`}>
      <Text>
        Firmware rollout {p.rolloutId} (release {p.releaseId}) ended: {p.status}
        {p.abortReason ? ` (${p.abortReason})` : ''}.
      </Text>
      <Text>
        Succeeded {c.succeeded}, failed {c.failed}, timed out {c.timedOut}, skipped {c.skipped}, canceled{' '}
        {c.canceled}, queued {c.queued}, in progress {c.inProgress}.
      </Text>
    </Layout>
  );
}

RolloutReport.PreviewProps = {
  rolloutId: '0b7e4d1e-5c1a-4f2e-9a57-1d2c3b4a5e6f',
  releaseId: '5f0c2a9e-8d1b-4c3a-b2e1-7a6f5d4c3b2a',
  status: 'aborted',
  abortReason: 'failure_threshold',
  counts: { queued: 0, inProgress: 0, succeeded: 40, failed: 9, timedOut: 1, skipped: 3, canceled: 12 },
} satisfies RolloutReportProps;
