import { createRoute, z } from '@hono/zod-openapi';
import { findProfileById, normalizeEmail } from '../../db/queries/profiles';
import { findSite, listSitesOfProfile, type SiteFacts } from '../../db/queries/sites';
import { createSite, releaseSite, transferOwnership } from '../../operations/sites';
import { wakeDeletionsOfSiteLeft } from '../deletion-wake';
import type { AppDeps } from '../deps';
import { startNewSiteWorkflow } from '../new-site-workflow';
import { notFound, problem } from '../problem';
import { createRouter } from '../router';
import {
  EmailField,
  IdField,
  jsonBody,
  problemResponses,
  SITE_PROBLEMS,
  SiteIdParam,
  SiteNameField,
  TimeZoneField,
} from '../schemas';
import { siteAccess } from '../site-access';

const SiteSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    timezone: z.string(),
    status: z.enum(['installing', 'active']),
    subscriptionStatus: z.enum(['none', 'active', 'expired']),
    releasedAt: z.iso.datetime().nullable(),
    role: z.enum(['owner', 'admin', 'user', 'installer']),
  })
  .openapi('Site', {
    example: {
      id: '6f2d3c1e-4b5a-4e8f-9c7d-1a2b3c4d5e6f',
      name: 'Head office',
      timezone: 'Europe/Vienna',
      status: 'active',
      subscriptionStatus: 'active',
      releasedAt: '2026-02-11T14:03:00.000Z',
      role: 'owner',
    },
  });

type SiteRoleView = z.infer<typeof SiteSchema>['role'];

const siteJson = (site: SiteFacts, role: SiteRoleView) => ({
  id: site.id,
  name: site.name,
  timezone: site.timezone,
  status: site.status,
  subscriptionStatus: site.subscriptionStatus,
  releasedAt: site.releasedAt?.toISOString() ?? null,
  role,
});

const siteResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: SiteSchema } },
});

const createSiteRoute = createRoute({
  method: 'post',
  path: '/',
  operationId: 'createSite',
  tags: ['Sites'],
  summary:
    'Create a site. An installer names ownerEmail (not their own): the site stays installing until ' +
    'released, and that email is invited to own it (S7: the owner joins by accepting). Anyone else ' +
    'creates a site they own (ownerEmail, if given, must be their own). 422 owner_email_not_allowed.',
  security: [{ bearer: [] }],
  request: jsonBody(
    z.object({
      name: SiteNameField,
      timezone: TimeZoneField.optional(),
      ownerEmail: EmailField.optional(),
    }),
  ),
  responses: {
    201: siteResponse('Created'),
    ...problemResponses(
      'validation_failed',
      'malformed_json',
      'unauthorized',
      'owner_email_not_allowed',
      'email_unavailable',
    ),
  },
});

const listSitesRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'listSites',
  tags: ['Sites'],
  summary: 'The caller’s sites: memberships, and an installer’s sites not yet released',
  security: [{ bearer: [] }],
  responses: {
    200: { description: 'Sites', content: { 'application/json': { schema: z.array(SiteSchema) } } },
    ...problemResponses('unauthorized'),
  },
});

const getSite = createRoute({
  method: 'get',
  path: '/{siteId}',
  operationId: 'getSite',
  tags: ['Sites'],
  summary: 'A site of the caller (readable without a valid subscription, so its state can be seen)',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam },
  responses: {
    200: siteResponse('Site'),
    ...problemResponses('validation_failed', 'unauthorized', 'not_found'),
  },
});

const release = createRoute({
  method: 'post',
  path: '/{siteId}/release',
  operationId: 'releaseSite',
  tags: ['Sites'],
  summary:
    'The installer hands the site over (S1): any membership and access method the installer holds ' +
    'there ends, and invitations to their email and those they sent are withdrawn (the owner chooses ' +
    'the people from now on); afterwards the site is not found for ' +
    'them (404 everywhere, a second release included). 409 owner_not_joined until the invited owner ' +
    'has accepted.',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam },
  responses: {
    200: siteResponse('Released'),
    ...problemResponses(...SITE_PROBLEMS, 'owner_not_joined'),
  },
});

const transfer = createRoute({
  method: 'post',
  path: '/{siteId}/ownership',
  operationId: 'transferOwnership',
  tags: ['Sites'],
  summary:
    'Transfer ownership to an admin of the site (S3): the old owner becomes admin without the master ' +
    'key, the new owner holds it; both are emailed. 422 not_an_admin.',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam, ...jsonBody(z.object({ profileId: IdField })) },
  responses: {
    200: siteResponse('Transferred; the caller’s role is now admin'),
    ...problemResponses(...SITE_PROBLEMS, 'malformed_json', 'not_an_admin', 'email_unavailable'),
  },
});

export function sitesRoutes(deps: AppDeps) {
  const { db } = deps;
  const mailing = { mailer: deps.mailer, publicBaseUrl: deps.env.PUBLIC_BASE_URL };
  return createRouter()
    .openapi(createSiteRoute, async (c) => {
      const body = c.req.valid('json');
      const caller = c.get('profile');
      const isInstaller = caller.platformRole === 'installer';
      const me = await findProfileById(db, caller.id);
      if (!me) throw notFound('profile');
      if (isInstaller && !body.ownerEmail) {
        throw problem('validation_failed', 'The request is invalid: body.ownerEmail: is required', {
          errors: [{ path: 'body.ownerEmail', message: 'is required when an installer creates a site' }],
        });
      }
      // S1: the installer never owns what they hand over.
      if (isInstaller && body.ownerEmail && normalizeEmail(body.ownerEmail) === me.email) {
        throw problem(
          'owner_email_not_allowed',
          'An installer creates sites for their owners, not for themself.',
          {
            errors: [{ path: 'body.ownerEmail', message: 'must be the owner’s email, not yours' }],
          },
        );
      }
      if (!isInstaller && body.ownerEmail && normalizeEmail(body.ownerEmail) !== me.email) {
        throw problem('owner_email_not_allowed', undefined, {
          errors: [{ path: 'body.ownerEmail', message: 'must be your own email' }],
        });
      }
      const site = await createSite(db, mailing, {
        name: body.name,
        timezone: body.timezone ?? 'UTC',
        creator: me,
        for: isInstaller && body.ownerEmail ? { kind: 'installer', ownerEmail: body.ownerEmail } : undefined,
        now: deps.now(),
      });
      await startNewSiteWorkflow(deps, site.id);
      return c.json(siteJson(site, isInstaller ? 'installer' : 'owner'), 201);
    })
    .openapi(listSitesRoute, async (c) => {
      const caller = c.get('profile');
      const { member, installing } = await listSitesOfProfile(db, caller.id);
      const seen = new Set(member.map((m) => m.site.id));
      // The sites one installs are theirs only while they hold the role (siteAccess decides alike).
      const installs = caller.platformRole === 'installer' ? installing : [];
      return c.json(
        [
          ...member.map((m) => siteJson(m.site, m.role)),
          ...installs.filter((s) => !seen.has(s.id)).map((s) => siteJson(s, 'installer')),
        ],
        200,
      );
    })
    .openapi(getSite, async (c) => {
      const { siteId } = c.req.valid('param');
      const { site, role } = await siteAccess(deps, c, siteId, {
        roles: ['owner', 'admin', 'user', 'installer'],
        allowWithoutSubscription: true,
      });
      return c.json(siteJson(site, role), 200);
    })
    .openapi(release, async (c) => {
      const { siteId } = c.req.valid('param');
      const callerId = c.get('profile').id;
      await siteAccess(deps, c, siteId, { roles: ['installer'], allowWithoutSubscription: true });
      const released = await releaseSite(db, { siteId, installerId: callerId, now: deps.now() });
      await wakeDeletionsOfSiteLeft(deps.temporal, released.deletionRequestIds);
      return c.json(siteJson(released.site, 'installer'), 200);
    })
    .openapi(transfer, async (c) => {
      const { siteId } = c.req.valid('param');
      const { profileId } = c.req.valid('json');
      // Allowed without a subscription: an owner must be able to hand over (e.g. before leaving, D6).
      const { site } = await siteAccess(deps, c, siteId, {
        roles: ['owner'],
        allowWithoutSubscription: true,
      });
      await transferOwnership(
        db,
        { mailer: deps.mailer, publicBaseUrl: deps.env.PUBLIC_BASE_URL },
        {
          site,
          ownerId: c.get('profile').id,
          profileId,
          now: deps.now(),
        },
      );
      const updated = await findSite(db, siteId);
      return c.json(siteJson(updated!, 'admin'), 200);
    });
}
