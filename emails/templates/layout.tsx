import { Body, Container, Head, Hr, Html, Preview, Section, Text } from '@react-email/components';
import type { ReactNode } from 'react';

/** Emails about a sandbox site (O2) say so, with the site's moved clock at the moment of sending. */
export interface SandboxNotice {
  siteTime: string;
}

export const sandboxSubject = (p: { sandbox?: SandboxNotice }) => (p.sandbox ? '[Sandbox] ' : '');

/** Shared frame of every email: plain, self-contained HTML (no remote images or fonts). */
export function Layout({
  preview,
  sandbox,
  children,
}: {
  /**
   * The inbox's preview line. It names no person: React Email cuts it at 150 characters, and the cut-off
   * start of a long name would stay there when a deleted profile's name is redacted from kept mail (D7).
   */
  preview: string;
  sandbox?: SandboxNotice | undefined;
  children: ReactNode;
}) {
  return (
    <Html lang="en">
      <Head />
      <Preview>{preview}</Preview>
      <Body
        style={{ backgroundColor: '#f4f5f7', fontFamily: 'Helvetica, Arial, sans-serif', color: '#1f2933' }}
      >
        <Container style={{ backgroundColor: '#ffffff', padding: '24px', maxWidth: '560px' }}>
          <Text style={{ fontSize: '18px', fontWeight: 'bold', margin: '0 0 16px' }}>KS Cloud</Text>
          {sandbox ? (
            <Text style={sandboxStyle}>
              Sandbox site: this email comes from a test site whose clock support moves forward. Nothing here
              concerns a real subscription. Site time when it was sent: {sandbox.siteTime}.
            </Text>
          ) : null}
          <Section>{children}</Section>
          <Hr />
          <Text style={{ fontSize: '12px', color: '#7b8794' }}>
            You receive this email because of your KS Cloud account. This mailbox does not read replies.
          </Text>
        </Container>
      </Body>
    </Html>
  );
}

export const buttonStyle = {
  backgroundColor: '#1f6feb',
  color: '#ffffff',
  padding: '10px 16px',
  borderRadius: '4px',
  textDecoration: 'none',
} as const;

const sandboxStyle = {
  backgroundColor: '#fff8c5',
  border: '1px solid #d4a72c',
  padding: '8px 12px',
  fontSize: '13px',
} as const;

export const urgentStyle = { color: '#b42318', fontWeight: 'bold' } as const;
