import { Button, Text } from '@react-email/components';
import { buttonStyle, Layout } from './layout';

export interface DeletionConsentReminderProps {
  siteName: string;
  consentUrl: string;
  answerBy: string;
}

export const subject = (p: DeletionConsentReminderProps) =>
  `${p.siteName}: reminder, a member asks to delete their profile`;

/** The one reminder (D4). Its link replaces the first email's link, which no longer works. */
export default function DeletionConsentReminder(p: DeletionConsentReminderProps) {
  return (
    <Layout preview={`Your decision is still needed for a member of ${p.siteName}`}>
      <Text>
        A member of {p.siteName} asked a week ago to have their KS Cloud profile deleted, and we have not had
        your decision yet.
      </Text>
      <Button href={p.consentUrl} style={buttonStyle}>
        Review the request
      </Button>
      <Text>
        Please answer by {p.answerBy}. This link replaces the one in our first email. It works once.
      </Text>
    </Layout>
  );
}

DeletionConsentReminder.PreviewProps = {
  siteName: 'Head office',
  consentUrl: 'http://localhost:3000/consents/example',
  answerBy: '14 February 2028 at 09:00 (UTC)',
} satisfies DeletionConsentReminderProps;
