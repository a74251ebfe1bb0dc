import type { ReasonCode } from './reasons';

export type OpenRefusal = Extract<
  ReasonCode,
  'no_valid_subscription' | 'user_unsubscribed' | 'no_access' | 'iq_unsubscribed' | 'iq_offline'
>;

/** What K4 decides a remote opening on, read before anything goes to the device. */
export interface OpenFacts {
  siteActive: boolean;
  /** The caller's membership holds a user slot (undefined membership: false). */
  memberSubscribed: boolean;
  /** An active `remote` access method at the site, for any IQ or for this lock's. */
  remoteAccess: boolean;
  iqSubscribed: boolean;
  iqOnline: boolean;
}

/** K4: the first rule a remote opening breaks, in this order; undefined when it may go to the IQ. */
export function openRefusal(facts: OpenFacts): OpenRefusal | undefined {
  if (!facts.siteActive) return 'no_valid_subscription';
  if (!facts.memberSubscribed) return 'user_unsubscribed';
  if (!facts.remoteAccess) return 'no_access';
  if (!facts.iqSubscribed) return 'iq_unsubscribed';
  if (!facts.iqOnline) return 'iq_offline';
  return undefined;
}
