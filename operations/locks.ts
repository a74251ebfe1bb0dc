import type { Db } from '../db/client';
import { syncAccessLists } from '../db/queries/access-lists';
import { findSiteIq } from '../db/queries/iqs';
import { insertLock, type Lock } from '../db/queries/locks';
import { lockSite } from '../db/queries/subscriptions';
import { Refusal } from '../domain/reasons';
import { assertInstallationAllowed } from './iqs';

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
