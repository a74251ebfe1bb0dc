// The owner notifications' email keys (K6, N3). Apart from domain/notifications.ts, which workflow
// code imports: the sandbox has no node:crypto.
import { createHash } from 'node:crypto';

/**
 * Same key, same email. An immediate email is keyed by its one event; a digest by its whole set of
 * events, in any order, as a hash (a provider's idempotency key is short): two digests that share
 * their first event are still two emails.
 */
export function notificationEmailKey(
  email: { kind: 'immediate'; eventId: string } | { kind: 'digest'; eventIds: readonly string[] },
): string {
  if (email.kind === 'immediate') return `notification:${email.eventId}`;
  const ids = [...email.eventIds].sort().join(',');
  return `notification-digest:${createHash('sha256').update(ids).digest('hex')}`;
}
