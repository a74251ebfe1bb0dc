import { Button, Text } from '@react-email/components';
import { buttonStyle, Layout } from './layout';

export interface DeletionConsentRequestProps {
  siteName: string;
  consentUrl: string;
  /** When the link stops working, in the site's time zone. */
  answerBy: string;
}

export const subject = (p: DeletionConsentRequestProps) =>
  `${p.siteName}: a member asks to delete their profile`;

/**
 * To the site owner (D2). It names neither the person nor their address: the page behind the link
 * does, and this copy stays in the sent mail after the person's data is deleted (D7).
 */
export default function DeletionConsentRequest(p: DeletionConsentRequestProps) {
  return (
    <Layout preview={`Your decision is needed for a member of ${p.siteName}`}>
      <Text>
        A member of {p.siteName} has asked KS Cloud to delete their profile. As the site owner you decide
        whether their data at your site may be deleted.
      </Text>
      <Text>The link shows who asked and what happens, and lets you approve or deny.</Text>
      <Button href={p.consentUrl} style={buttonStyle}>
        Review the request
      </Button>
      <Text>
        Please answer by {p.answerBy}. The link works once. Without an answer from every site, the request
        ends and nothing is deleted.
      </Text>
    </Layout>
  );
}

DeletionConsentRequest.PreviewProps = {
  siteName: 'Head office',
  consentUrl: 'http://localhost:3000/consents/example',
  answerBy: '14 February 2028 at 09:00 (UTC)',
} satisfies DeletionConsentRequestProps;
