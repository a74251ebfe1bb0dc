import { Button, Text } from '@react-email/components';
import { buttonStyle, Layout, type SandboxNotice, sandboxSubject } from './layout';

export interface InvitationProps {
  siteName: string;
  role: 'owner' | 'admin' | 'user';
  inviterName: string;
  acceptUrl: string;
  /** ISO time after which the link no longer works (S7: 14 days). */
  expiresAt: string;
  sandbox?: SandboxNotice;
}

export const subject = (p: InvitationProps) =>
  `${sandboxSubject(p)}You are invited to ${p.siteName} on KS Cloud`;

const AS: Record<InvitationProps['role'], string> = {
  owner: 'its owner',
  admin: 'an admin',
  user: 'a member',
};

const day = (iso: string) =>
  new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' }).format(
    new Date(iso),
  );

/** One email whether or not the address has a profile: the page behind the link tells them apart (S7). */
export default function Invitation(p: InvitationProps) {
  return (
    <Layout preview={`You are invited to ${p.siteName} on KS Cloud`} sandbox={p.sandbox}>
      <Text>
        {p.inviterName} invited you to the site {p.siteName} on KS Cloud as {AS[p.role]}.
      </Text>
      <Text>
        You become a member only if you accept. The page behind the link shows what that means; if you have no
        KS Cloud account yet, you choose your name and password there.
      </Text>
      <Button href={p.acceptUrl} style={buttonStyle}>
        See the invitation
      </Button>
      <Text>
        The link works once, until {day(p.expiresAt)} UTC. Not expecting this? Ignore it: nothing happens.
      </Text>
    </Layout>
  );
}

Invitation.PreviewProps = {
  siteName: 'Head office',
  role: 'owner',
  inviterName: 'Sam Installer',
  acceptUrl: 'http://localhost:3000/invitations/example',
  expiresAt: '2025-03-14T10:00:00.000Z',
} satisfies InvitationProps;
