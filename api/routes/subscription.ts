import { createHash, randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { findIdempotencyRecord, saveIdempotencyRecord } from '../../db/queries/idempotency';
import {
  findCurrentTerm,
  recordRedemptionFailure,
  redemptionBlockedUntil,
  slotUsage,
} from '../../db/queries/subscriptions';
import type { TermView } from '../../domain/subscription';
import { hashVoucherCode, normalizeVoucherCode } from '../../domain/voucher-codes';
import { redeemVoucher } from '../../workflows/client/subscription';
import { requireAuth } from '../auth/require-auth';
import type { AppDeps, AppEnv } from '../deps';
import { ApiProblem, notFound, type Problem, problemBody } from '../problem';
import { createRouter } from '../router';
import { jsonBody, ProblemSchema, problemResponses } from '../schemas';
import { siteAccess } from '../site-access';

/** V12: this many failed redemptions within the window, per site or per client, block further tries. */
export const REDEMPTION_FAILURE_LIMIT = 5;
export const REDEMPTION_FAILURE_WINDOW_MS = 15 * 60_000;

export const problemContent = { 'application/problem+json': { schema: ProblemSchema } };

export const SiteIdParam = z.object({ siteId: z.uuid() });

export const TermSchema = z
  .object({
    startsAt: z.iso.datetime(),
    endsAt: z.iso.datetime(),
    usersLimit: z.number().int(),
    iqsLimit: z.number().int(),
  })
  .openapi('SubscriptionTerm');

export const termJson = (t: { startsAt: Date; endsAt: Date; usersLimit: number; iqsLimit: number }) => ({
  startsAt: t.startsAt.toISOString(),
  endsAt: t.endsAt.toISOString(),
  usersLimit: t.usersLimit,
  iqsLimit: t.iqsLimit,
});
/** Fixed key order: a replayed answer comes back from jsonb, which does not keep it. */
const redemptionJson = (r: RedemptionBody): RedemptionBody => ({
  term: termJson({ ...r.term, startsAt: new Date(r.term.startsAt), endsAt: new Date(r.term.endsAt) }),
  carriedOverSeconds: r.carriedOverSeconds,
  ...(r.previousTerm
    ? {
        previousTerm: termJson({
          ...r.previousTerm,
          startsAt: new Date(r.previousTerm.startsAt),
          endsAt: new Date(r.previousTerm.endsAt),
        }),
      }
    : {}),
});
const termViewJson = (t: TermView) =>
  termJson({ ...t, startsAt: new Date(t.startsAtMs), endsAt: new Date(t.endsAtMs) });

const SubscriptionSchema = z
  .object({
    status: z.enum(['none', 'active', 'expired']),
    term: TermSchema.optional(),
    usage: z.object({ users: z.number().int(), iqs: z.number().int() }),
  })
  .openapi('Subscription');

const RedemptionSchema = z
  .object({
    term: TermSchema,
    carriedOverSeconds: z.number().int(),
    previousTerm: TermSchema.optional(),
  })
  .openapi('Redemption');

type RedemptionBody = z.infer<typeof RedemptionSchema>;

const getSubscription = createRoute({
  method: 'get',
  path: '/sites/{siteId}/subscription',
  tags: ['Subscription'],
  summary: 'The site’s subscription status, its current (or last) term and the slots in use',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam },
  responses: {
    200: { description: 'Subscription', content: { 'application/json': { schema: SubscriptionSchema } } },
    ...problemResponses(400, 401, 403, 404),
  },
});

const redeem = createRoute({
  method: 'post',
  path: '/sites/{siteId}/subscription/redemptions',
  tags: ['Subscription'],
  summary:
    'Redeem a voucher: ends the current term now and starts a new one with the carried-over time. ' +
    'With an Idempotency-Key the first answer is replayed for the same caller, site and key.',
  security: [{ bearer: [] }],
  request: {
    params: SiteIdParam,
    headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
    ...jsonBody(
      z.object({
        code: z
          .string()
          .min(1)
          .max(64)
          .refine((code) => normalizeVoucherCode(code) !== undefined, {
            message: 'is not a voucher code (20 letters and digits, dashes and spaces ignored)',
          }),
      }),
    ),
  },
  responses: {
    200: { description: 'The new term', content: { 'application/json': { schema: RedemptionSchema } } },
    ...problemResponses(400, 401, 403),
    404: {
      description: 'not_found (site), voucher_not_found',
      content: problemContent,
    },
    409: { description: 'voucher_already_redeemed', content: problemContent },
    410: { description: 'voucher_expired: past its redeem-by date', content: problemContent },
    422: {
      description: 'idempotency_key_reused: the key was used with a different body',
      content: problemContent,
    },
    429: {
      description: 'too_many_attempts: repeated failed redemptions; see Retry-After (seconds)',
      headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait' } },
      content: problemContent,
    },
  },
});

const failureProblems = {
  voucher_not_found: () => new ApiProblem(404, 'voucher_not_found', 'No voucher has this code.'),
  voucher_already_redeemed: () =>
    new ApiProblem(409, 'voucher_already_redeemed', 'This voucher has already been redeemed.'),
  voucher_expired: () =>
    new ApiProblem(410, 'voucher_expired', 'This voucher was not redeemed before its redeem-by date.'),
} as const;

/**
 * Rate-limit keys of the caller (V12): the profile always; the forwarded address too when a proxy
 * sets one. A spoofed header only adds a bucket, it cannot lift the profile's limit.
 */
function clientKeys(c: Context<AppEnv>): string[] {
  const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
  return [`profile:${c.get('profile').id}`, ...(forwarded ? [`ip:${forwarded.slice(0, 100)}`] : [])];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function subscriptionRoutes(deps: AppDeps) {
  const { db } = deps;
  const router = createRouter();
  router.use('/sites/:siteId/subscription', requireAuth(deps));
  router.use('/sites/:siteId/subscription/*', requireAuth(deps));

  return router
    .openapi(getSubscription, async (c) => {
      const { siteId } = c.req.valid('param');
      const { site } = await siteAccess(deps, c, siteId, {
        roles: ['owner', 'admin'],
        allowWithoutSubscription: true,
      });
      const term = await findCurrentTerm(db, siteId);
      return c.json(
        {
          status: site.subscriptionStatus,
          ...(term ? { term: termJson(term) } : {}),
          usage: await slotUsage(db, siteId),
        },
        200,
      );
    })
    .openapi(redeem, async (c) => {
      const { siteId } = c.req.valid('param');
      const { code } = c.req.valid('json');
      const key = c.req.valid('header')['idempotency-key'];
      const caller = c.get('profile').id;
      await siteAccess(deps, c, siteId, {
        roles: ['owner', 'admin', 'installer'],
        allowWithoutSubscription: true,
      });
      const codeHash = hashVoucherCode(normalizeVoucherCode(code)!);

      const scope = `${caller}:POST /sites/${siteId}/subscription/redemptions`;
      if (key !== undefined) {
        const record = await findIdempotencyRecord(db, scope, key);
        if (record && record.requestHash !== codeHash) {
          throw new ApiProblem(
            422,
            'idempotency_key_reused',
            'This Idempotency-Key was already used with a different request body.',
            [{ path: 'header.idempotency-key', message: 'was used with a different body' }],
          );
        }
        if (record?.status === 200) return c.json(redemptionJson(record.body as RedemptionBody), 200);
        if (record) {
          const replayed = record.body as Problem;
          throw new ApiProblem(record.status as ContentfulStatusCode, replayed.code, replayed.detail);
        }
      }

      const keys = clientKeys(c);
      const now = deps.now();
      const blockedUntil = await redemptionBlockedUntil(db, {
        siteId,
        clientKeys: keys,
        now,
        limit: REDEMPTION_FAILURE_LIMIT,
        windowMs: REDEMPTION_FAILURE_WINDOW_MS,
      });
      if (blockedUntil) {
        const seconds = Math.max(1, Math.ceil((blockedUntil.getTime() - now.getTime()) / 1000));
        throw new ApiProblem(
          429,
          'too_many_attempts',
          `Too many failed redemptions; try again in ${seconds} seconds.`,
          undefined,
          { 'retry-after': String(seconds) },
        );
      }

      // A retried request with the same key reaches the same term: the activity finds it by requestId.
      const requestId = key === undefined ? randomUUID() : `key:${sha256(`${scope}\n${key}`)}`;
      const result = await redeemVoucher(deps.temporal, deps.env.TEMPORAL_TASK_QUEUE, siteId, {
        codeHash,
        requestId,
        actorProfileId: caller,
      });
      if (!result.ok) {
        if (result.code === 'site_not_found') throw notFound('site');
        await recordRedemptionFailure(db, siteId, keys, now);
        const problem = failureProblems[result.code]();
        if (key !== undefined) {
          await saveIdempotencyRecord(db, {
            scope,
            key,
            requestHash: codeHash,
            status: problem.status,
            body: problemBody(problem.status, problem.code, problem.detail),
          });
        }
        throw problem;
      }
      const body: RedemptionBody = {
        term: termViewJson(result.term),
        carriedOverSeconds: result.carriedOverSeconds,
        ...(result.previousTerm ? { previousTerm: termViewJson(result.previousTerm) } : {}),
      };
      if (key !== undefined) {
        await saveIdempotencyRecord(db, { scope, key, requestHash: codeHash, status: 200, body });
      }
      return c.json(body, 200);
    });
}
