import type { DbOrTx } from '../db/client';
import { findMembership } from '../db/queries/memberships';
import { lockSite } from '../db/queries/subscriptions';
import type { SiteRole } from '../db/schema/sites';
import { Refusal } from '../domain/reasons';
import { actorDecision, type SiteActor, type SiteRoleFacts } from '../domain/site-roles';

/**
 * The site's lock, for a change an actor asked for, and the role they act with decided again under
 * it (N7): the API decided on what it read before the lock, and a transfer, a removal, a release or
 * an expiry that committed while this change waited for the lock has taken that role or the
 * subscription away. Refused then as the API would have refused it: 404 `not_found` without any
 * role, 403 `forbidden` without one that may do this, 403 `no_valid_subscription` (V7).
 */
export async function lockSiteAs(tx: DbOrTx, siteId: string, actor: SiteActor) {
  // Sent together (one round trip, issue 15): PostgreSQL runs the membership's read after the lock is
  // granted, so it reads what committed while the lock was waited for.
  const [site, membership] = await Promise.all([lockSite(tx, siteId), findMembership(tx, siteId, actor.id)]);
  if (!site) throw new Refusal('not_found', 'No such site.');
  return { site, role: roleUnderLock(site, membership?.role, actor) };
}

/**
 * lockSiteAs's decision, for a change that sends the membership's read with reads of its own after
 * the site's lock (a redemption: issue 15).
 */
export function roleUnderLock(site: SiteRoleFacts, membershipRole: SiteRole | undefined, actor: SiteActor) {
  const decided = actorDecision(site, membershipRole, actor);
  if ('refusal' in decided) {
    throw decided.refusal === 'not_found'
      ? new Refusal('not_found', 'No such site.')
      : new Refusal(decided.refusal);
  }
  return decided.role;
}
