import { Button, Text } from '@react-email/components';
import { buttonStyle, Layout } from './layout';

export interface ConfirmEmailProps {
  name: string;
  confirmUrl: string;
}

export const subject = () => 'Confirm your KS Cloud account';

export default function ConfirmEmail({ name, confirmUrl }: ConfirmEmailProps) {
  return (
    <Layout preview="Confirm your email address to start using KS Cloud">
      <Text>Hello {name},</Text>
      <Text>Follow the link below to confirm your email address. You can log in once it is confirmed.</Text>
      <Button href={confirmUrl} style={buttonStyle}>
        Confirm my email
      </Button>
      <Text>The link works once and expires in 48 hours.</Text>
    </Layout>
  );
}

ConfirmEmail.PreviewProps = {
  name: 'Alex',
  confirmUrl: 'http://localhost:3000/auth/confirm/example',
} satisfies ConfirmEmailProps;
