import { Text } from '@react-email/components';
import { Layout } from './layout';

export interface RedemptionReceiptProps {
  siteName: string;
  endsOn: string;
  usersLimit: number;
  iqsLimit: number;
  carriedOverDays: number;
}

export const subject = (p: RedemptionReceiptProps) => `Voucher redeemed for ${p.siteName}`;

export default function RedemptionReceipt(p: RedemptionReceiptProps) {
  return (
    <Layout preview={`${p.siteName} is subscribed until ${p.endsOn}`}>
      <Text>A voucher was redeemed for {p.siteName}.</Text>
      <Text>
        The subscription now runs until <strong>{p.endsOn}</strong> for up to {p.usersLimit} users and{' '}
        {p.iqsLimit} IQs.
        {p.carriedOverDays > 0
          ? ` It includes ${p.carriedOverDays} days carried over from the previous term.`
          : ''}
      </Text>
    </Layout>
  );
}

RedemptionReceipt.PreviewProps = {
  siteName: 'Head office',
  endsOn: '14 January 2028',
  usersLimit: 20,
  iqsLimit: 2,
  carriedOverDays: 50,
} satisfies RedemptionReceiptProps;
