import type { Db } from '../db/client';
import { syncAccessLists } from '../db/queries/access-lists';
import { findSiteIq } from '../db/queries/iqs';
import { insertLock, type Lock } from '../db/queries/locks';
import { Refusal } from '../domain/reasons';
import type { SiteActor } from '../domain/site-roles';
import { assertInstallationAllowed } from './iqs';
import { lockSiteAs } from './site-lock';

/**
 * A lock (door) on one of the site's IQs (S2: no limit per site; installation work, V7); that IQ's
 * credentials open it too (K7).
 */
export function addLock(
  db: Db,
  input: { siteId: string; iqId: string; name: string; actor: SiteActor },
): Promise<Lock> {
  const { siteId, iqId } = input;
  return db.transaction(async (tx) => {
    assertInstallationAllowed((await lockSiteAs(tx, siteId, input.actor)).site);
    if (!(await findSiteIq(tx, siteId, iqId))) throw new Refusal('not_found', 'No such IQ.');
    const row = await insertLock(tx, { siteId, iqId, name: input.name });
    await syncAccessLists(tx, { siteId, iqIds: [iqId] });
    return row;
  });
}
