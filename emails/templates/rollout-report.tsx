import { Text } from '@react-email/components';
import type { Counts } from '../../domain/rollout';
import { Layout } from './layout';

export interface RolloutReportFailure {
  serial: string;
  siteId: string;
  error: string | null;
  attempts: number;
}

export interface RolloutReportProps {
  rolloutId: string;
  release: { id: string; model: string; version: string };
  status: 'running' | 'paused' | 'completed' | 'aborted';
  abortReason: string | null;
  counts: Counts;
  /** The failed IQs, oldest first; at most a page of them (`counts.failed` says how many in all). */
  failures: RolloutReportFailure[];
}

/** "completed", "completed with 3 failures", "aborted (failure_threshold) with 9 failures". */
function outcome(p: RolloutReportProps) {
  const n = p.counts.failed;
  const reason = p.abortReason ? ` (${p.abortReason})` : '';
  return `${p.status}${reason}${n > 0 ? ` with ${n} failure${n === 1 ? '' : 's'}` : ''}`;
}

export const subject = (p: RolloutReportProps) =>
  `Firmware ${p.release.model} ${p.release.version} rollout ${outcome(p)}`;

/** To support at the end of a rollout (F4, F5): which release, how it ended, and which IQs failed. */
export default function RolloutReport(p: RolloutReportProps) {
  const c = p.counts;
  const unlisted = c.failed - p.failures.length;
  return (
    <Layout preview={`Firmware ${p.release.model} ${p.release.version}: ${outcome(p)}`}>
      <Text>
        The rollout of firmware {p.release.model} {p.release.version} {outcome(p)}.
      </Text>
      <Text>
        Succeeded {c.succeeded}, failed {c.failed}, timed out {c.timedOut}, skipped {c.skipped}, canceled{' '}
        {c.canceled}, queued {c.queued}, in progress {c.inProgress}.
      </Text>
      {p.failures.length > 0 ? (
        <>
          <Text>Failed IQs (serial, site, error, attempts):</Text>
          {p.failures.map((f) => (
            <Text key={f.serial}>
              {f.serial}, site {f.siteId}: {f.error ?? 'no error reported'}, {f.attempts}{' '}
              {f.attempts === 1 ? 'attempt' : 'attempts'}
            </Text>
          ))}
          {unlisted > 0 ? (
            <Text>
              …and {unlisted} more: GET /support/rollouts/{p.rolloutId}.
            </Text>
          ) : null}
        </>
      ) : null}
      <Text>
        Rollout {p.rolloutId}, release {p.release.id}.
      </Text>
    </Layout>
  );
}

RolloutReport.PreviewProps = {
  rolloutId: '0b7e4d1e-5c1a-4f2e-9a57-1d2c3b4a5e6f',
  release: { id: '5f0c2a9e-8d1b-4c3a-b2e1-7a6f5d4c3b2a', model: 'IQ2', version: '2.4.1' },
  status: 'aborted',
  abortReason: 'failure_threshold',
  counts: { queued: 0, inProgress: 0, succeeded: 40, failed: 2, timedOut: 1, skipped: 3, canceled: 12 },
  failures: [
    {
      serial: 'IQ2-000123',
      siteId: '9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d',
      error: 'install_failed',
      attempts: 1,
    },
    { serial: 'IQ2-000456', siteId: '9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d', error: 'timeout', attempts: 3 },
  ],
} satisfies RolloutReportProps;
