import { Text } from '@react-email/components';
import { Layout } from './layout';

export interface OwnershipTransferredProps {
  siteName: string;
  recipientName: string;
  newOwnerName: string;
  formerOwnerName: string;
  /** Which side of the transfer the recipient is on. */
  recipientIs: 'new-owner' | 'former-owner';
}

export const subject = (p: OwnershipTransferredProps) => `${p.siteName}: ownership transferred`;

export default function OwnershipTransferred(p: OwnershipTransferredProps) {
  return (
    <Layout preview={`The ownership of ${p.siteName} was transferred`}>
      <Text>Hello {p.recipientName},</Text>
      {p.recipientIs === 'new-owner' ? (
        <Text>
          {p.formerOwnerName} transferred the ownership of {p.siteName} to you. You now hold its master key
          and receive its subscription and alarm emails.
        </Text>
      ) : (
        <Text>
          You transferred the ownership of {p.siteName} to {p.newOwnerName}. You remain an admin of the site;
          the master key and the owner’s emails now go to {p.newOwnerName}.
        </Text>
      )}
    </Layout>
  );
}

OwnershipTransferred.PreviewProps = {
  siteName: 'Head office',
  recipientName: 'Alex',
  newOwnerName: 'Alex',
  formerOwnerName: 'Robin',
  recipientIs: 'new-owner',
} satisfies OwnershipTransferredProps;
