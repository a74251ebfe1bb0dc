import { Button, Text } from '@react-email/components';
import { buttonStyle, Layout } from './layout';

export interface InvitationProps {
  siteName: string;
  role: 'owner' | 'admin' | 'user';
  inviterName: string;
  acceptUrl: string;
}

export const subject = (p: InvitationProps) => `You are invited to ${p.siteName} on KS Cloud`;

export default function Invitation(p: InvitationProps) {
  return (
    <Layout preview={`${p.inviterName} invited you to ${p.siteName}`}>
      <Text>
        {p.inviterName} invited you to {p.siteName} as its {p.role}.
      </Text>
      <Text>
        Follow the link to choose your name and password. Your account uses this email address; it cannot be
        changed later.
      </Text>
      <Button href={p.acceptUrl} style={buttonStyle}>
        Accept the invitation
      </Button>
      <Text>The link works once and expires in 7 days.</Text>
    </Layout>
  );
}

Invitation.PreviewProps = {
  siteName: 'Head office',
  role: 'owner',
  inviterName: 'Sam Installer',
  acceptUrl: 'http://localhost:3000/invitations/example',
} satisfies InvitationProps;
