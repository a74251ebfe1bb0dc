import { Text } from '@react-email/components';
import { Layout } from './layout';

export interface PinResetProps {
  name: string;
  siteName: string;
  iqName: string;
  pin: string;
}

export const subject = (p: PinResetProps) => `${p.siteName}: your new PIN`;

export default function PinReset(p: PinResetProps) {
  return (
    <Layout preview={`Your PIN for ${p.iqName} at ${p.siteName} was reset`}>
      <Text>Hello {p.name},</Text>
      <Text>
        An admin of {p.siteName} reset your PIN for {p.iqName}. Your old PIN no longer works there.
      </Text>
      <Text style={{ fontSize: '28px', fontWeight: 'bold', letterSpacing: '6px' }}>{p.pin}</Text>
      <Text>Keep it to yourself. Delete this email once you remember the PIN.</Text>
    </Layout>
  );
}

PinReset.PreviewProps = {
  name: 'Alex',
  siteName: 'Head office',
  iqName: 'Main entrance IQ',
  pin: '482915',
} satisfies PinResetProps;
