/** The roles one acts with at a site: a membership's, or the installer's until release (S1). */
export type SiteActorRole = 'owner' | 'admin' | 'user' | 'installer';

/** Who acts on a site, the roles that may do what they ask, and whether it needs a valid subscription (V7). */
export interface SiteActor {
  id: string;
  /**
   * Whether the caller holds the platform role installer, as read with their session: the sites they
   * install are theirs to act on only while they do (an operator's revocation takes them away).
   */
  holdsInstallerRole: boolean;
  roles: readonly SiteActorRole[];
  needsSubscription: boolean;
  /**
   * Installation work (IQs and locks, V7) instead: taken without a term by a site that never had one,
   * refused by an expired site as every other action is.
   */
  installationWork?: boolean;
}

/**
 * The role a caller acts with at a site, decided on the site's facts and the caller's membership
 * there: not_found when they hold no role at all (N4: other sites' ids look like missing ones),
 * forbidden when none they hold may do this. The API decides with it when a request comes, and every
 * change of a site again under the site's lock, so a role lost meanwhile (a transfer, a removal, a
 * release) no longer acts.
 */
export function actingRole(
  facts: {
    callerId: string;
    membershipRole: Exclude<SiteActorRole, 'installer'> | undefined;
    installerProfileId: string | null;
    holdsInstallerRole: boolean;
    released: boolean;
  },
  allowed: readonly SiteActorRole[],
): { role: SiteActorRole } | { refusal: 'not_found' | 'forbidden' } {
  const held: SiteActorRole[] = [];
  if (facts.membershipRole) held.push(facts.membershipRole);
  if (facts.installerProfileId === facts.callerId && facts.holdsInstallerRole && !facts.released) {
    held.push('installer');
  }
  if (held.length === 0) return { refusal: 'not_found' };
  const role = held.find((r) => allowed.includes(r));
  return role ? { role } : { refusal: 'forbidden' };
}

/** What of a site its actors' roles are decided on. */
export interface SiteRoleFacts {
  installerProfileId: string | null;
  releasedAt: Date | null;
  subscriptionStatus: string;
}

/**
 * actingRole, and then the site's subscription when the actor's change needs one (V7): the one
 * decision the API makes when a request comes and every change makes again under the site's lock.
 */
export function actorDecision(
  site: SiteRoleFacts,
  membershipRole: Exclude<SiteActorRole, 'installer'> | undefined,
  actor: SiteActor,
): { role: SiteActorRole } | { refusal: 'not_found' | 'forbidden' | 'no_valid_subscription' } {
  const decided = actingRole(
    {
      callerId: actor.id,
      membershipRole,
      installerProfileId: site.installerProfileId,
      holdsInstallerRole: actor.holdsInstallerRole,
      released: site.releasedAt !== null,
    },
    actor.roles,
  );
  if ('refusal' in decided) return decided;
  const refused = actor.installationWork
    ? site.subscriptionStatus === 'expired'
    : actor.needsSubscription && site.subscriptionStatus !== 'active';
  return refused ? { refusal: 'no_valid_subscription' } : decided;
}
