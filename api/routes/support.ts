import { createRoute, z } from '@hono/zod-openapi';
import { findSite } from '../../db/queries/sites';
import { listTerms } from '../../db/queries/subscriptions';
import { issueVouchers } from '../../db/queries/vouchers';
import { createSite } from '../../operations/sites';
import { advanceSandboxClock } from '../../workflows/client/subscription';
import type { AppDeps } from '../deps';
import { startNewSiteWorkflow } from '../new-site-workflow';
import { notFound, problem } from '../problem';
import { createRouter } from '../router';
import {
  EmailField,
  jsonBody,
  problemResponses,
  SiteIdParam,
  SiteNameField,
  SUPPORT_PROBLEMS,
  TimeZoneField,
} from '../schemas';

const TEN_YEARS_SECONDS = 3650 * 86_400;

const IssueVouchers = z.object({
  usersLimit: z.number().int().min(1).max(100_000),
  iqsLimit: z.number().int().min(1).max(10_000),
  durationDays: z.number().int().min(1).max(3650),
  count: z.number().int().min(1).max(500),
  redeemBy: z.iso.datetime({ offset: true }).optional(),
});

const issue = createRoute({
  method: 'post',
  path: '/vouchers',
  operationId: 'issueVouchers',
  tags: ['Support'],
  summary: 'Issue vouchers; the codes are shown once and only their hashes are kept',
  security: [{ bearer: [] }],
  request: jsonBody(IssueVouchers),
  responses: {
    201: {
      description: 'Issued',
      content: {
        'application/json': {
          schema: z.object({ vouchers: z.array(z.object({ id: z.uuid(), code: z.string() })) }),
        },
      },
    },
    ...problemResponses(...SUPPORT_PROBLEMS, 'malformed_json'),
  },
});

const history = createRoute({
  method: 'get',
  path: '/sites/{siteId}/subscription-history',
  operationId: 'getSubscriptionHistory',
  tags: ['Support'],
  summary: 'Every term of a site, oldest first (owners cannot see this, V11)',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam },
  responses: {
    200: {
      description: 'Terms',
      content: {
        'application/json': {
          schema: z.object({
            terms: z.array(
              z.object({
                id: z.uuid(),
                startsAt: z.iso.datetime(),
                endsAt: z.iso.datetime(),
                usersLimit: z.number().int(),
                iqsLimit: z.number().int(),
                carriedOverSeconds: z.number().int(),
                replacedAt: z.iso.datetime().nullable(),
                voucherId: z.uuid(),
              }),
            ),
          }),
        },
      },
    },
    ...problemResponses(...SUPPORT_PROBLEMS, 'not_found'),
  },
});

const createSandbox = createRoute({
  method: 'post',
  path: '/sites',
  operationId: 'createSandboxSite',
  tags: ['Support'],
  summary:
    'Create a sandbox site (test clock, O2) and invite ownerEmail to own it (S7, A2: the owner joins ' +
    'by accepting the emailed invitation; an email without a profile sets a name and password ' +
    'there). The same answer whether or not the email has a profile (A4).',
  security: [{ bearer: [] }],
  request: jsonBody(
    z.object({
      name: SiteNameField,
      timezone: TimeZoneField.optional(),
      ownerEmail: EmailField,
      sandbox: z.literal(true),
    }),
  ),
  responses: {
    201: {
      description: 'Sandbox site',
      content: {
        'application/json': {
          schema: z.object({
            id: z.uuid(),
            name: z.string(),
            status: z.enum(['installing', 'active']),
            sandbox: z.literal(true),
          }),
        },
      },
    },
    ...problemResponses(...SUPPORT_PROBLEMS, 'malformed_json', 'email_unavailable'),
  },
});

const clock = createRoute({
  method: 'post',
  path: '/sites/{siteId}/clock',
  operationId: 'advanceSandboxClock',
  tags: ['Support'],
  summary: 'Move a sandbox site’s clock forward; reminders and expiry happen as at that time',
  security: [{ bearer: [] }],
  request: {
    params: SiteIdParam,
    ...jsonBody(z.object({ advanceSeconds: z.number().int().min(1).max(TEN_YEARS_SECONDS) })),
  },
  responses: {
    200: {
      description: 'The site’s time after the move',
      content: { 'application/json': { schema: z.object({ now: z.iso.datetime() }) } },
    },
    ...problemResponses(...SUPPORT_PROBLEMS, 'malformed_json', 'not_found', 'not_sandbox'),
  },
});

export function supportRoutes(deps: AppDeps) {
  const { db } = deps;
  const mailing = { mailer: deps.mailer, publicBaseUrl: deps.env.PUBLIC_BASE_URL };
  return createRouter()
    .openapi(issue, async (c) => {
      const body = c.req.valid('json');
      const redeemBy = body.redeemBy === undefined ? undefined : new Date(body.redeemBy);
      // Bounded ahead too: an instant past the year 9999 is no date PostgreSQL stores (a 500 before).
      const wrong = !redeemBy
        ? undefined
        : redeemBy <= deps.now()
          ? 'is in the past'
          : redeemBy.getTime() > deps.now().getTime() + TEN_YEARS_SECONDS * 1000
            ? 'is more than ten years ahead'
            : undefined;
      if (wrong) {
        throw problem('validation_failed', `The request is invalid: body.redeemBy: ${wrong}`, {
          errors: [{ path: 'body.redeemBy', message: wrong }],
        });
      }
      const vouchers = await issueVouchers(
        db,
        {
          usersLimit: body.usersLimit,
          iqsLimit: body.iqsLimit,
          durationDays: body.durationDays,
          createdBy: c.get('profile').id,
          ...(redeemBy ? { redeemBy } : {}),
        },
        body.count,
      );
      return c.json({ vouchers }, 201);
    })
    .openapi(history, async (c) => {
      const { siteId } = c.req.valid('param');
      if (!(await findSite(db, siteId))) throw notFound('site');
      const terms = await listTerms(db, siteId);
      return c.json(
        {
          terms: terms.map((t) => ({
            id: t.id,
            startsAt: t.startsAt.toISOString(),
            endsAt: t.endsAt.toISOString(),
            usersLimit: t.usersLimit,
            iqsLimit: t.iqsLimit,
            carriedOverSeconds: t.carriedOverSeconds,
            replacedAt: t.replacedAt?.toISOString() ?? null,
            voucherId: t.voucherId,
          })),
        },
        200,
      );
    })
    .openapi(createSandbox, async (c) => {
      const body = c.req.valid('json');
      const site = await createSite(db, mailing, {
        name: body.name,
        timezone: body.timezone ?? 'UTC',
        creator: c.get('profile'),
        for: { kind: 'sandbox', ownerEmail: body.ownerEmail },
        now: deps.now(),
      });
      await startNewSiteWorkflow(deps, site.id);
      return c.json({ id: site.id, name: site.name, status: site.status, sandbox: true as const }, 201);
    })
    .openapi(clock, async (c) => {
      const { siteId } = c.req.valid('param');
      const { advanceSeconds } = c.req.valid('json');
      const site = await findSite(db, siteId);
      if (!site) throw notFound('site');
      if (!site.sandbox) throw problem('not_sandbox');
      const { nowMs } = await advanceSandboxClock(
        deps.temporal,
        deps.env.TEMPORAL_TASK_QUEUE,
        siteId,
        advanceSeconds,
      );
      return c.json({ now: new Date(nowMs).toISOString() }, 200);
    });
}
