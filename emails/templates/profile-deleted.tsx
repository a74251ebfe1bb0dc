import { Text } from '@react-email/components';
import { Layout } from './layout';

export interface ProfileDeletedProps {
  name: string;
}

export const subject = () => 'Your KS Cloud profile has been deleted';

/** To the person, sent just before the deletion removes their address (D7). */
export default function ProfileDeleted({ name }: ProfileDeletedProps) {
  return (
    <Layout preview="Your KS Cloud profile has been deleted">
      <Text>Hello {name},</Text>
      <Text>
        As you asked, your KS Cloud profile has been deleted. You are no longer a member of any site and your
        keys no longer work. Events you took part in are kept without anything that leads back to you.
      </Text>
      <Text>You can sign up again with the same email address at any time; that makes a new profile.</Text>
    </Layout>
  );
}

ProfileDeleted.PreviewProps = { name: 'Alex' } satisfies ProfileDeletedProps;
