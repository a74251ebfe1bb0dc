import { Text } from '@react-email/components';
import { formatDuration } from '../format';
import { Layout, type SandboxNotice, sandboxSubject } from './layout';

export interface RedemptionReceiptProps {
  siteName: string;
  sandbox?: SandboxNotice;
  endsOn: string;
  usersLimit: number;
  iqsLimit: number;
  /** The voucher's own duration. */
  voucherSeconds: number;
  carriedSeconds: number;
  /** The term this redemption ended early (V3), and how its time left was carried (V4). */
  previous?: {
    remainingSeconds: number;
    usersLimit: number;
    iqsLimit: number;
    /** The limit whose rise scaled the time left (the largest increase); absent when none rose. */
    scaledBy?: { limit: 'users' | 'iqs'; from: number; to: number };
  };
}

export const subject = (p: RedemptionReceiptProps) =>
  `${sandboxSubject(p)}Voucher redeemed for ${p.siteName}`;

const limitName = { users: 'user', iqs: 'IQ' } as const;
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

export default function RedemptionReceipt(p: RedemptionReceiptProps) {
  const prev = p.previous;
  return (
    <Layout preview={`${p.siteName} is subscribed until ${p.endsOn}`} sandbox={p.sandbox}>
      <Text>A voucher was redeemed for {p.siteName}.</Text>
      <Text>
        The subscription now runs until <strong>{p.endsOn}</strong> for up to {plural(p.usersLimit, 'user')}{' '}
        and {plural(p.iqsLimit, 'IQ')}.
      </Text>
      {prev ? (
        <>
          <Text>
            <strong>Time carried over.</strong> When the voucher was redeemed,{' '}
            {formatDuration(prev.remainingSeconds)} were left of the previous term (
            {plural(prev.usersLimit, 'user')}, {plural(prev.iqsLimit, 'IQ')}). A redemption ends the current
            term at once and starts the new one, so that time is not lost: it moves into the new term.
          </Text>
          {prev.scaledBy ? (
            <Text>
              The new voucher raises the {limitName[prev.scaledBy.limit]} limit from {prev.scaledBy.from} to{' '}
              {prev.scaledBy.to}. The time left was paid for{' '}
              {plural(prev.scaledBy.from, limitName[prev.scaledBy.limit])}, so it is scaled pro rata by{' '}
              {prev.scaledBy.from}/{prev.scaledBy.to} (when both limits rise, the larger increase decides):{' '}
              {formatDuration(prev.remainingSeconds)} × {prev.scaledBy.from}/{prev.scaledBy.to} ={' '}
              {formatDuration(p.carriedSeconds)} carried over.
            </Text>
          ) : (
            <Text>
              The new voucher raises neither the user nor the IQ limit, so all of it is carried over:{' '}
              {formatDuration(p.carriedSeconds)}.
            </Text>
          )}
          <Text>
            New term: {formatDuration(p.voucherSeconds)} from the voucher + {formatDuration(p.carriedSeconds)}{' '}
            carried over, ending on {p.endsOn}.
          </Text>
        </>
      ) : (
        <Text>
          The term is the voucher's {formatDuration(p.voucherSeconds)}, counted from the moment of redemption.
        </Text>
      )}
    </Layout>
  );
}

RedemptionReceipt.PreviewProps = {
  siteName: 'Head office',
  endsOn: '14 January 2028 at 10:00 (Europe/Zurich)',
  usersLimit: 20,
  iqsLimit: 2,
  voucherSeconds: 365 * 86_400,
  carriedSeconds: 50 * 86_400,
  previous: {
    remainingSeconds: 100 * 86_400,
    usersLimit: 10,
    iqsLimit: 2,
    scaledBy: { limit: 'users', from: 10, to: 20 },
  },
} satisfies RedemptionReceiptProps;
