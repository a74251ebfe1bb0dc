import { Button, Text } from '@react-email/components';
import { buttonStyle, Layout } from './layout';

export interface PasswordResetProps {
  name: string;
  resetUrl: string;
}

export const subject = () => 'Reset your KS Cloud password';

export default function PasswordReset({ name, resetUrl }: PasswordResetProps) {
  return (
    <Layout preview="A link to choose a new password">
      <Text>Hello {name},</Text>
      <Text>
        Someone asked to reset the password of your KS Cloud account. If it was you, choose a new one:
      </Text>
      <Button href={resetUrl} style={buttonStyle}>
        Choose a new password
      </Button>
      <Text>The link works once and expires in one hour. If you did not ask for it, ignore this email.</Text>
    </Layout>
  );
}

PasswordReset.PreviewProps = {
  name: 'Alex',
  resetUrl: 'http://localhost:3000/auth/password-reset/example',
} satisfies PasswordResetProps;
