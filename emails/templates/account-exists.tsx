import { Text } from '@react-email/components';
import { Layout } from './layout';

export interface AccountExistsProps {
  name: string;
}

export const subject = () => 'You already have a KS Cloud account';

/**
 * A4: the answer to a sign-up with an email that already has a confirmed account (one never confirmed
 * gets a confirmation email instead). The sign-up answered like any other; only the owner of the
 * address learns that the account exists. Nothing was changed.
 */
export default function AccountExists({ name }: AccountExistsProps) {
  return (
    <Layout preview="Someone tried to sign up with this address, which already has an account">
      <Text>Hello {name},</Text>
      <Text>
        Someone, perhaps you, tried to create a KS Cloud account with this email address. It already has an
        account, so nothing was created and nothing was changed.
      </Text>
      <Text>
        If it was you, log in with your password, or ask for a password reset if you forgot it. If it was not
        you, ignore this email: your account and its password are unchanged.
      </Text>
    </Layout>
  );
}

AccountExists.PreviewProps = {
  name: 'Alex',
} satisfies AccountExistsProps;
