import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { actingRole, actorDecision, type SiteActorRole } from '../../domain/site-roles';

const ME = 'caller';
const facts = (over: Partial<Parameters<typeof actingRole>[0]> = {}) => ({
  callerId: ME,
  membershipRole: undefined,
  installerProfileId: null,
  holdsInstallerRole: true,
  released: false,
  ...over,
});

describe('the role one acts with at a site (S1, N4)', () => {
  it('a member acts with their membership’s role where it is allowed, else is forbidden', () => {
    expect(actingRole(facts({ membershipRole: 'admin' }), ['owner', 'admin'])).toEqual({ role: 'admin' });
    expect(actingRole(facts({ membershipRole: 'user' }), ['owner', 'admin'])).toEqual({
      refusal: 'forbidden',
    });
  });

  it('the installer acts as installer until release; after it, without a membership, the site is not found', () => {
    const installing = facts({ installerProfileId: ME });
    expect(actingRole(installing, ['owner', 'admin', 'installer'])).toEqual({ role: 'installer' });
    expect(actingRole(installing, ['owner'])).toEqual({ refusal: 'forbidden' });
    expect(actingRole({ ...installing, released: true }, ['installer'])).toEqual({ refusal: 'not_found' });
    expect(actingRole(facts({ installerProfileId: 'someone else' }), ['installer'])).toEqual({
      refusal: 'not_found',
    });
  });

  it('the installer whose platform role was taken away acts as installer nowhere', () => {
    const revoked = facts({ installerProfileId: ME, holdsInstallerRole: false });
    expect(actingRole(revoked, ['owner', 'admin', 'installer'])).toEqual({ refusal: 'not_found' });
    expect(actingRole({ ...revoked, membershipRole: 'admin' }, ['installer'])).toEqual({
      refusal: 'forbidden',
    });
  });

  it('an installer who is also a member acts with whichever of their roles is allowed', () => {
    const both = facts({ membershipRole: 'user', installerProfileId: ME });
    expect(actingRole(both, ['owner', 'admin', 'installer'])).toEqual({ role: 'installer' });
    expect(actingRole(both, ['user'])).toEqual({ role: 'user' });
  });

  it('generated facts: a role comes back only when held and allowed; not_found only without any role', () => {
    const roles = fc.constantFrom<SiteActorRole>('owner', 'admin', 'user', 'installer');
    fc.assert(
      fc.property(
        fc.option(fc.constantFrom('owner', 'admin', 'user') as fc.Arbitrary<'owner' | 'admin' | 'user'>, {
          nil: undefined,
        }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.uniqueArray(roles, { maxLength: 4 }),
        (membershipRole, installs, holdsInstallerRole, released, allowed) => {
          const decided = actingRole(
            facts({
              membershipRole,
              installerProfileId: installs ? ME : 'other',
              holdsInstallerRole,
              released,
            }),
            allowed,
          );
          const held = [
            ...(membershipRole ? [membershipRole] : []),
            ...(installs && holdsInstallerRole && !released ? ['installer'] : []),
          ];
          if ('role' in decided) {
            expect(held).toContain(decided.role);
            expect(allowed).toContain(decided.role);
          } else if (decided.refusal === 'not_found') {
            expect(held).toEqual([]);
          } else {
            expect(held.length).toBeGreaterThan(0);
            expect(held.some((r) => allowed.includes(r as SiteActorRole))).toBe(false);
          }
        },
      ),
    );
  });
});

describe('the decision on an actor: the role, then the subscription when the change needs one (V7)', () => {
  const site = (subscriptionStatus: string) => ({
    installerProfileId: null,
    releasedAt: null,
    subscriptionStatus,
  });
  const actor = (needsSubscription: boolean) => ({
    id: ME,
    holdsInstallerRole: true,
    roles: ['owner', 'admin'] as const,
    needsSubscription,
  });

  it('a change that needs a subscription is refused no_valid_subscription without one, and goes through with one', () => {
    expect(actorDecision(site('expired'), 'admin', actor(true))).toEqual({
      refusal: 'no_valid_subscription',
    });
    expect(actorDecision(site('none'), 'admin', actor(true))).toEqual({ refusal: 'no_valid_subscription' });
    expect(actorDecision(site('active'), 'admin', actor(true))).toEqual({ role: 'admin' });
    expect(actorDecision(site('expired'), 'admin', actor(false))).toEqual({ role: 'admin' });
  });

  it('installation work goes through on a site that never had a term and an active one, not an expired one', () => {
    const installing = { ...actor(false), installationWork: true };
    expect(actorDecision(site('none'), 'admin', installing)).toEqual({ role: 'admin' });
    expect(actorDecision(site('active'), 'admin', installing)).toEqual({ role: 'admin' });
    expect(actorDecision(site('expired'), 'admin', installing)).toEqual({ refusal: 'no_valid_subscription' });
    expect(actorDecision(site('expired'), 'admin', { ...installing, needsSubscription: true })).toEqual({
      refusal: 'no_valid_subscription',
    });
  });

  it('the role is decided first: without one, or without an allowed one, the subscription is not looked at', () => {
    expect(actorDecision(site('expired'), undefined, actor(true))).toEqual({ refusal: 'not_found' });
    expect(actorDecision(site('expired'), 'user', actor(true))).toEqual({ refusal: 'forbidden' });
    const released = { installerProfileId: ME, releasedAt: new Date(), subscriptionStatus: 'active' };
    expect(actorDecision(released, undefined, { ...actor(false), roles: ['installer'] })).toEqual({
      refusal: 'not_found',
    });
  });
});
