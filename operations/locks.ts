import type { Db, DbOrTx } from '../db/client';
import { syncAccessLists } from '../db/queries/access-lists';
import { findSiteIq } from '../db/queries/iqs';
import { hasRemoteAccess, insertLock, type Lock } from '../db/queries/locks';
import { findMembership } from '../db/queries/memberships';
import type { Site } from '../db/queries/sites';
import { lockSite } from '../db/queries/subscriptions';
import { type ReasonCode, Refusal } from '../domain/reasons';
import { assertInstallationAllowed } from './iqs';

export type OpenRefusal = Extract<
  ReasonCode,
  'no_valid_subscription' | 'user_unsubscribed' | 'no_access' | 'iq_unsubscribed' | 'iq_offline'
>;

/** K4: the first rule a remote opening breaks, decided before anything goes to the device. */
export async function openRefusal(
  db: DbOrTx,
  input: { site: Pick<Site, 'subscriptionStatus'>; lock: Lock; callerId: string },
): Promise<OpenRefusal | undefined> {
  const { lock, callerId } = input;
  if (input.site.subscriptionStatus !== 'active') return 'no_valid_subscription';
  const membership = await findMembership(db, lock.siteId, callerId);
  if (!membership?.subscribed) return 'user_unsubscribed';
  if (!(await hasRemoteAccess(db, lock.siteId, callerId, lock.iqId))) return 'no_access';
  const iq = await findSiteIq(db, lock.siteId, lock.iqId);
  if (!iq?.subscribed) return 'iq_unsubscribed';
  if (!iq.online) return 'iq_offline';
  return undefined;
}

/**
 * A lock (door) on one of the site's IQs (S2: no limit per site; installation work, V7); that IQ's
 * credentials open it too (K7).
 */
export function addLock(db: Db, input: { siteId: string; iqId: string; name: string }): Promise<Lock> {
  const { siteId, iqId } = input;
  return db.transaction(async (tx) => {
    assertInstallationAllowed(await lockSite(tx, siteId));
    if (!(await findSiteIq(tx, siteId, iqId))) throw new Refusal('not_found', 'No such IQ.');
    const row = await insertLock(tx, { siteId, iqId, name: input.name });
    await syncAccessLists(tx, { siteId, iqIds: [iqId] });
    return row;
  });
}
