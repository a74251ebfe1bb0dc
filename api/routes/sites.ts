import { createRoute, z } from '@hono/zod-openapi';
import { and, eq, isNull } from 'drizzle-orm';
import { recordEvent } from '../../db/queries/events';
import { findMembership } from '../../db/queries/memberships';
import { findProfileByEmail, findProfileById, normalizeEmail } from '../../db/queries/profiles';
import { findSite, findSiteOwner, type Site } from '../../db/queries/sites';
import { lockSite } from '../../db/queries/subscriptions';
import { memberships, sites } from '../../db/schema';
import { ensureSubscriptionWorkflow } from '../../workflows/client/subscription';
import type { AppDeps } from '../deps';
import { sendOrUnavailable } from '../mail';
import { notFound, problem } from '../problem';
import { createRouter } from '../router';
import {
  EmailField,
  jsonBody,
  problemResponses,
  SITE_PROBLEMS,
  SiteIdParam,
  SiteNameField,
  TimeZoneField,
} from '../schemas';
import { siteAccess } from '../site-access';
import { inviteToSite } from './invitations';

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
  .openapi('Site');

type SiteRoleView = z.infer<typeof SiteSchema>['role'];

const siteJson = (site: Site, role: SiteRoleView) => ({
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

const createSite = createRoute({
  method: 'post',
  path: '/',
  tags: ['Sites'],
  summary:
    'Create a site. An installer names ownerEmail: the site stays installing until released, and an ' +
    'email without a profile is invited. Anyone else creates a site they own (ownerEmail, if given, ' +
    'must be their own: 422 owner_email_not_allowed).',
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

const listSites = createRoute({
  method: 'get',
  path: '/',
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
  tags: ['Sites'],
  summary:
    'The installer hands the site over (S1); afterwards the installer has no access. ' +
    '409 already_released; 409 owner_not_joined while the invited owner has no profile yet.',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam },
  responses: {
    200: siteResponse('Released'),
    ...problemResponses(...SITE_PROBLEMS, 'already_released', 'owner_not_joined'),
  },
});

const transfer = createRoute({
  method: 'post',
  path: '/{siteId}/ownership',
  tags: ['Sites'],
  summary:
    'Transfer ownership to an admin of the site (S3): the old owner becomes admin without the master ' +
    'key, the new owner holds it; both are emailed. 422 not_an_admin.',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam, ...jsonBody(z.object({ profileId: z.uuid() })) },
  responses: {
    200: siteResponse('Transferred; the caller’s role is now admin'),
    ...problemResponses(...SITE_PROBLEMS, 'malformed_json', 'not_an_admin', 'email_unavailable'),
  },
});

export function sitesRoutes(deps: AppDeps) {
  const { db } = deps;
  return createRouter()
    .openapi(createSite, async (c) => {
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
      if (!isInstaller && body.ownerEmail && normalizeEmail(body.ownerEmail) !== me.email) {
        throw problem('owner_email_not_allowed', undefined, {
          errors: [{ path: 'body.ownerEmail', message: 'must be your own email' }],
        });
      }
      const now = deps.now();
      const site = await db.transaction(async (tx) => {
        const [row] = await tx
          .insert(sites)
          .values({
            name: body.name,
            timezone: body.timezone ?? 'UTC',
            status: isInstaller ? 'installing' : 'active',
            installerProfileId: isInstaller ? caller.id : null,
            createdAt: now,
          })
          .returning();
        if (!row) throw new Error('site insert returned nothing');
        const owner = isInstaller ? await findProfileByEmail(tx, body.ownerEmail!) : me;
        if (owner) {
          await tx
            .insert(memberships)
            .values({ siteId: row.id, profileId: owner.id, role: 'owner', masterKey: true, joinedAt: now });
        } else {
          await inviteToSite(deps, tx, {
            site: row,
            email: body.ownerEmail!,
            role: 'owner',
            inviterId: caller.id,
          });
        }
        await recordEvent(tx, {
          siteId: row.id,
          at: now,
          type: 'site.created',
          actorProfileId: caller.id,
          subjectProfileId: owner?.id ?? null,
        });
        return row;
      });
      await ensureSubscriptionWorkflow(deps.temporal, deps.env.TEMPORAL_TASK_QUEUE, site.id);
      return c.json(siteJson(site, isInstaller ? 'installer' : 'owner'), 201);
    })
    .openapi(listSites, async (c) => {
      const callerId = c.get('profile').id;
      const member = await db
        .select({ site: sites, role: memberships.role })
        .from(memberships)
        .innerJoin(sites, eq(sites.id, memberships.siteId))
        .where(eq(memberships.profileId, callerId))
        .orderBy(sites.name);
      const installing = await db
        .select()
        .from(sites)
        .where(and(eq(sites.installerProfileId, callerId), isNull(sites.releasedAt)))
        .orderBy(sites.name);
      const seen = new Set(member.map((m) => m.site.id));
      return c.json(
        [
          ...member.map((m) => siteJson(m.site, m.role)),
          ...installing.filter((s) => !seen.has(s.id)).map((s) => siteJson(s, 'installer')),
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
      const site = await findSite(db, siteId);
      // The installer keeps the link after release, so a second release is named instead of hidden.
      if (site?.installerProfileId === callerId && site.releasedAt) throw problem('already_released');
      await siteAccess(deps, c, siteId, { roles: ['installer'], allowWithoutSubscription: true });
      const now = deps.now();
      const released = await db.transaction(async (tx) => {
        const locked = await lockSite(tx, siteId);
        if (!locked || locked.releasedAt) throw problem('already_released');
        if (!(await findSiteOwner(tx, siteId))) throw problem('owner_not_joined');
        const [row] = await tx
          .update(sites)
          .set({ releasedAt: now, status: 'active' })
          .where(eq(sites.id, siteId))
          .returning();
        await recordEvent(tx, { siteId, at: now, type: 'site.released', actorProfileId: callerId });
        return row!;
      });
      return c.json(siteJson(released, 'installer'), 200);
    })
    .openapi(transfer, async (c) => {
      const { siteId } = c.req.valid('param');
      const { profileId } = c.req.valid('json');
      const callerId = c.get('profile').id;
      // Allowed without a subscription: an owner must be able to hand over (e.g. before leaving, D6).
      const { site } = await siteAccess(deps, c, siteId, {
        roles: ['owner'],
        allowWithoutSubscription: true,
      });
      const now = deps.now();
      await db.transaction(async (tx) => {
        await lockSite(tx, siteId);
        const target = await findMembership(tx, siteId, profileId);
        if (target?.role !== 'admin') {
          throw problem('not_an_admin', undefined, {
            errors: [{ path: 'body.profileId', message: 'is not an admin of this site' }],
          });
        }
        // Demote first: the site may have only one owner at any moment (unique index).
        await tx
          .update(memberships)
          .set({ role: 'admin', masterKey: false })
          .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, callerId)));
        await tx
          .update(memberships)
          .set({ role: 'owner', masterKey: true })
          .where(and(eq(memberships.siteId, siteId), eq(memberships.profileId, profileId)));
        await recordEvent(tx, {
          siteId,
          at: now,
          type: 'site.ownership_transferred',
          actorProfileId: callerId,
          subjectProfileId: profileId,
        });
        const [former, next] = await Promise.all([
          findProfileById(tx, callerId),
          findProfileById(tx, profileId),
        ]);
        if (!former || !next) throw new Error('a member of the transfer has no profile');
        for (const [recipient, recipientIs] of [
          [former, 'former-owner'],
          [next, 'new-owner'],
        ] as const) {
          await sendOrUnavailable(deps.mailer, {
            to: recipient.email,
            template: 'ownership-transferred',
            props: {
              siteName: site.name,
              recipientName: recipient.name,
              newOwnerName: next.name,
              formerOwnerName: former.name,
              recipientIs,
            },
            idempotencyKey: `ownership:${siteId}:${profileId}:${now.getTime()}:${recipientIs}`,
          });
        }
      });
      const updated = await findSite(db, siteId);
      return c.json(siteJson(updated!, 'admin'), 200);
    });
}
