import { Body, Container, Head, Hr, Html, Preview, Section, Text } from '@react-email/components';
import type { ReactNode } from 'react';

/** Shared frame of every email: plain, self-contained HTML (no remote images or fonts). */
export function Layout({ preview, children }: { preview: string; children: ReactNode }) {
  return (
    <Html lang="en">
      <Head />
      <Preview>{preview}</Preview>
      <Body
        style={{ backgroundColor: '#f4f5f7', fontFamily: 'Helvetica, Arial, sans-serif', color: '#1f2933' }}
      >
        <Container style={{ backgroundColor: '#ffffff', padding: '24px', maxWidth: '560px' }}>
          <Text style={{ fontSize: '18px', fontWeight: 'bold', margin: '0 0 16px' }}>KS Cloud</Text>
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
