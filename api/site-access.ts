import type { Context } from 'hono';
import { findMembership, type MembershipFacts } from '../db/queries/memberships';
import { findSite, type SiteFacts } from '../db/queries/sites';
import { actorDecision, type SiteActor, type SiteActorRole } from '../domain/site-roles';
import type { ReadWithSession } from './auth/reads-with-session';
import type { AppDeps, AppEnv } from './deps';
import { forbidden, notFound, problem } from './problem';

export type SiteAccessRole = SiteActorRole;

/**
 * The caller's site and their role there, or the refusal: 404 when the site is unknown or the
 * caller has no role in it (N4: other sites' ids look like missing ones), 403 `forbidden` when the
 * role may not do this, 403 `no_valid_subscription` while the site has none (V7). The installer
 * holds a role only until release (S1) and while they hold the platform role; platform support gets
 * no site access through here.
 */
export async function siteAccess(
  deps: Pick<AppDeps, 'db'>,
  c: Context<AppEnv>,
  siteId: string,
  opts: {
    roles: readonly SiteAccessRole[];
    allowWithoutSubscription?: boolean;
    /**
     * Installation work (IQs and locks, V7): allowed without a term on a site that never had one,
     * refused on an expired site as every other action is.
     */
    installationWork?: boolean;
  },
): Promise<{
  site: SiteFacts;
  role: SiteAccessRole;
  membership: MembershipFacts | undefined;
  /** What the route declared to read with the session (readOf), when the path named this site. */
  read: ReadWithSession | undefined;
  /** What was decided here (the caller, the roles allowed, the subscription), for the change to decide again under the site's lock. */
  actor: SiteActor;
}> {
  const { id: callerId, platformRole } = c.get('profile');
  // Read with the session when the path names this site (issue 15); otherwise both at once.
  const preloaded = c.get('siteOfPath');
  // Both lower-cased: the sign-in's from the path, the route's by IdField.
  const atPath = preloaded?.siteId === siteId ? preloaded : undefined;
  const [site, membership] = atPath
    ? [atPath.site, atPath.membership]
    : await Promise.all([findSite(deps.db, siteId), findMembership(deps.db, siteId, callerId)]);
  if (!site) throw notFound('site');
  const actor: SiteActor = {
    id: callerId,
    holdsInstallerRole: platformRole === 'installer',
    roles: opts.roles,
    needsSubscription: !opts.allowWithoutSubscription,
    ...(opts.installationWork ? { installationWork: true } : {}),
  };
  const decided = actorDecision(site, membership?.role, actor);
  if ('refusal' in decided) {
    if (decided.refusal === 'not_found') throw notFound('site');
    throw decided.refusal === 'forbidden' ? forbidden() : problem('no_valid_subscription');
  }
  const { role } = decided;
  // Only now, the caller's access to this site decided, may the route use what was read with it.
  return { site, role, membership, read: atPath?.read, actor };
}

/** Platform-wide roles (support) are checked apart from site roles. */
export function requirePlatformRole(c: Context<AppEnv>, role: 'support' | 'installer'): void {
  if (c.get('profile').platformRole !== role) throw forbidden(`Only ${role} may do this.`);
}
