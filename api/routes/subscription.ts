import { createHash, randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { createRedemptionAnnouncer } from '../../activities/subscription';
import type { IdempotencyRecord } from '../../db/queries/idempotency';
import { termJsonAndSeats } from '../../db/queries/subscriptions';
import type { TermView } from '../../domain/subscription';
import { hashVoucherCode, isBlankVoucherCode, normalizeVoucherCode } from '../../domain/voucher-codes';
import { type RedeemOutcome, redeemVoucher } from '../../operations/subscription';
import { createRedemptionRelay } from '../../outbox/redemption-relay';
import { readOf } from '../auth/reads-with-session';
import type { AppDeps } from '../deps';
import { jsonText } from '../json-text';
import { ApiProblem, notFound, type Problem, problem, problemBody } from '../problem';
import { createRouter } from '../router';
import { jsonBody, problemResponses, SITE_PROBLEMS, SiteIdParam } from '../schemas';
import { siteAccess } from '../site-access';
import { addressKey, refusedAttemptAs429, throttleKey } from '../throttle';

const TermSchema = z
  .object({
    startsAt: z.iso.datetime(),
    endsAt: z.iso.datetime(),
    usersLimit: z.number().int(),
    iqsLimit: z.number().int(),
  })
  .openapi('SubscriptionTerm');

const termJson = (t: { startsAt: Date; endsAt: Date; usersLimit: number; iqsLimit: number }) => ({
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
  .openapi('Redemption', {
    example: {
      term: {
        startsAt: '2026-03-02T09:15:00.000Z',
        endsAt: '2027-04-01T09:15:00.000Z',
        usersLimit: 25,
        iqsLimit: 5,
      },
      carriedOverSeconds: 2_592_000,
      previousTerm: {
        startsAt: '2025-04-01T09:15:00.000Z',
        endsAt: '2026-03-02T09:15:00.000Z',
        usersLimit: 25,
        iqsLimit: 5,
      },
    },
  });

type RedemptionBody = z.infer<typeof RedemptionSchema>;

const getSubscription = createRoute({
  method: 'get',
  path: '/{siteId}/subscription',
  operationId: 'getSubscription',
  tags: ['Subscription'],
  summary: 'The site’s subscription status, its current (or last) term and the slots in use',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam },
  responses: {
    200: { description: 'Subscription', content: { 'application/json': { schema: SubscriptionSchema } } },
    ...problemResponses(...SITE_PROBLEMS),
  },
});

const redeem = createRoute({
  method: 'post',
  path: '/{siteId}/subscription/redemptions',
  operationId: 'redeemVoucher',
  tags: ['Subscription'],
  summary:
    'Redeem a voucher: ends the current term now and starts a new one with the carried-over time. ' +
    'With an Idempotency-Key the first answer is replayed for the same caller, site and key.',
  security: [{ bearer: [] }],
  request: {
    params: SiteIdParam,
    headers: z.object({
      'idempotency-key': z
        .string()
        .min(1)
        .max(200)
        .optional()
        .openapi({
          description:
            'Any string of 1–200 characters the client chooses per redemption (a UUID serves). A retry ' +
            'with the same key, caller and site replays the first answer instead of redeeming again; ' +
            'the same key with another code answers 422 idempotency_key_reused.',
          example: '3f1c2a9e-8d47-4b6a-9a0e-2c5d7f41b9e3',
        }),
    }),
    ...jsonBody(
      z.object({
        // One message per mistake: an empty code is told it is empty, not also that it is too short.
        code: z
          .string()
          .max(64, { abort: true })
          .refine((code) => normalizeVoucherCode(code) !== undefined, {
            error: (issue) =>
              isBlankVoucherCode(String(issue.input))
                ? 'is empty: type the 20 letters and digits printed on the voucher'
                : 'is not a voucher code (20 letters and digits; dashes and spaces are ignored)',
          })
          .openapi({
            description: 'The code printed on the voucher; case, dashes and spaces do not matter',
            example: 'K7QM-3XRT-9VWD-HB2N-F6PJ',
          }),
      }),
    ),
  },
  responses: {
    200: { description: 'The new term', content: { 'application/json': { schema: RedemptionSchema } } },
    ...problemResponses(
      ...SITE_PROBLEMS,
      'malformed_json',
      'voucher_not_found',
      'voucher_already_redeemed',
      'voucher_expired',
      'idempotency_key_reused',
      'too_many_attempts',
    ),
  },
});

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const keyReused = () =>
  problem('idempotency_key_reused', undefined, {
    errors: [{ path: 'header.idempotency-key', message: 'was used with a different body' }],
  });

const redemptionBody = (result: Extract<RedeemOutcome, { ok: true }>): RedemptionBody => ({
  term: termViewJson(result.term),
  carriedOverSeconds: result.carriedOverSeconds,
  ...(result.previousTerm ? { previousTerm: termViewJson(result.previousTerm) } : {}),
});

/** What a key's record keeps of a redemption's outcome: the answer given, for a retry to replay. */
function recordedAnswer(result: RedeemOutcome) {
  if (result.ok) return { status: 200, body: redemptionBody(result) };
  // Neither is this request's own answer to keep: another request took the key; the site is gone.
  if (result.code === 'idempotency_key_reused' || result.code === 'site_not_found') return undefined;
  const refused = problem(result.code);
  return { status: refused.status, body: problemBody(refused.status, refused.code, refused.detail) };
}

export function subscriptionRoutes(deps: AppDeps) {
  const redemptions =
    deps.redemptions ??
    createRedemptionRelay({
      db: deps.db,
      temporal: deps.temporal,
      taskQueue: deps.env.TEMPORAL_TASK_QUEUE,
      announce: createRedemptionAnnouncer(deps),
    });
  const { db } = deps;
  return createRouter()
    .openapi(getSubscription, async (c) => {
      const { siteId } = c.req.valid('param');
      const { site, read } = await siteAccess(deps, c, siteId, {
        roles: ['owner', 'admin'],
        allowWithoutSubscription: true,
      });
      // Read with the session (api/auth/reads-with-session.ts), or here when it was not.
      const { term, users, iqs } = readOf(read, 'subscription') ?? (await termJsonAndSeats(db, siteId));
      // The term comes as JSON text from the database (db/queries/subscriptions.ts).
      const status = JSON.stringify(site.subscriptionStatus);
      const usage = JSON.stringify({ users, iqs });
      return jsonText<z.infer<typeof SubscriptionSchema>>(
        c,
        `{"status":${status}${term === null ? '' : `,"term":${term}`},"usage":${usage}}`,
      );
    })
    .openapi(redeem, async (c) => {
      const { siteId } = c.req.valid('param');
      const { code } = c.req.valid('json');
      const key = c.req.valid('header')['idempotency-key'];
      const caller = c.get('profile').id;
      const { actor } = await siteAccess(deps, c, siteId, {
        roles: ['owner', 'admin', 'installer'],
        allowWithoutSubscription: true,
      });
      const codeHash = hashVoucherCode(normalizeVoucherCode(code)!);

      const scope = `${caller}:POST /sites/${siteId}/subscription/redemptions`;
      const replay = (record: IdempotencyRecord) => {
        if (record.requestHash !== codeHash) throw keyReused();
        if (record.status === 200) return c.json(redemptionJson(record.body as RedemptionBody), 200);
        // The first answer as it was recorded, whatever the catalogue says today.
        const replayed = record.body as Problem;
        throw new ApiProblem(record.status as ContentfulStatusCode, replayed.code, replayed.detail);
      };

      // V12: counted before the code is looked up, atomically on every key, so of a burst of wrong
      // codes sent at once no more than the limit reach the lookup; a success gives its try back and
      // clears the actor's failures (one admin's typos must not hold them up any longer). Counted and
      // settled in the claim's transaction.
      const secret = deps.env.TOKEN_SECRET;
      const throttle = {
        actor: throttleKey(secret, 'redeemActor', caller),
        shared: [
          throttleKey(secret, 'redeemSite', siteId),
          ...addressKey(secret, 'redeemAddress', c.get('clientAddress')),
        ],
      };

      // A retried request with the same key reaches the same term: the activity finds it by requestId.
      const requestId = key === undefined ? randomUUID() : `key:${sha256(`${scope}\n${key}`)}`;
      // Claimed here, under the site's lock (N7); the term's announcement, queued with it, tells the
      // site's workflow, which takes it from there (reminders, expiry). The key's record is read and
      // written under the same lock (RedemptionKey): a retry replays it from there.
      const {
        site: _site,
        clock: _clock,
        expiredTermId: _expired,
        ...result
      } = await redeemVoucher(
        db,
        { siteId, codeHash, requestId, actorProfileId: caller, announce: true },
        // The app's clock (tests may move it), read once the site and the throttle's keys are locked.
        () => deps.now().getTime(),
        {
          actor,
          throttle,
          ...(key === undefined
            ? {}
            : { idempotency: { scope, key, requestHash: codeHash, answer: recordedAnswer } }),
        },
      ).catch(refusedAttemptAs429);
      // Not awaited: the answer does not wait for the announcement; the worker sweeps what fails.
      if (result.ok) void redemptions.handOver();
      if (!result.ok) {
        if (result.code === 'site_not_found') throw notFound('site');
        if (result.recorded) return replay(result.recorded);
        // Another code made the key's term (before keys were recorded with the claim): no record.
        if (result.code === 'idempotency_key_reused') throw keyReused();
        throw problem(result.code);
      }
      return c.json(redemptionBody(result), 200);
    });
}
