import { createRoute, z } from '@hono/zod-openapi';
import {
  countsOfRollouts,
  findRelease,
  findReleaseByVersion,
  findRollout,
  findRolloutWithRelease,
  insertRelease,
  insertRollout,
  listReleases,
  listRollouts,
  type RolloutsAfter,
  rolloutCounts,
  rolloutFailures,
  rolloutPlan,
  withdrawUnstartedRollout,
} from '../../db/queries/rollouts';
import {
  DEFAULT_POLICY,
  isHhMm,
  type RolloutControl,
  type RolloutPolicy,
  waveOfPosition,
} from '../../domain/rollout';
import { controlRollout, startRollout } from '../../workflows/client/rollout';
import type { AppDeps } from '../deps';
import { notFound, problem } from '../problem';
import { createRouter } from '../router';
import { IdField, IdParam, jsonBody, problemResponses, SUPPORT_PROBLEMS } from '../schemas';

const MAX_FAILURES_LISTED = 500;
const MAX_LISTED_IDS = 10_000;
const MAX_RELEASES_LISTED = 1_000;
const STATUSES = ['running', 'paused', 'completed', 'aborted'] as const;

// The cursor holds where the page ended (listRollouts), base64url-wrapped so clients treat it as
// opaque: the ordering values themselves, so a rollout deleted since (withdrawn) still pages on.
const encodeCursor = ({ atMicros, id }: RolloutsAfter) =>
  Buffer.from(`rollout:${atMicros}:${id}`).toString('base64url');
const decodeCursor = (cursor: string): RolloutsAfter | undefined => {
  const match = /^rollout:(\d{1,17}):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/.exec(
    Buffer.from(cursor, 'base64url').toString(),
  );
  return match ? { atMicros: match[1]!, id: match[2]! } : undefined;
};

const Release = z.object({
  model: z.string().trim().min(1).max(64),
  version: z.string().trim().min(1).max(64),
  url: z.url().max(2048).describe('Where IQs download the file (FTPS in production)'),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters')
    .describe('SHA-256 of the file; the IQ checks it'),
  sizeBytes: z
    .number()
    .int()
    .min(1)
    .max(2 ** 40),
});

const HhMm = z.string().refine(isHhMm, { message: 'must be HH:MM (24-hour)' });
const d = DEFAULT_POLICY;

/** F4, F7: every field optional with a default, each documented in the OpenAPI document. */
const Policy = z
  .object({
    canarySize: z.number().int().min(1).max(10_000).default(d.canarySize).describe('IQs in the first wave'),
    growthFactor: z
      .number()
      .min(1)
      .max(100)
      .default(d.growthFactor)
      .describe('Each wave is the previous one times this factor (capped by maxConcurrent)'),
    maxConcurrent: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(d.maxConcurrent)
      .describe('At most this many IQs updating at once; also the largest wave'),
    failureThresholdPercent: z
      .number()
      .min(0)
      .max(100)
      .default(d.failureThresholdPercent)
      .describe('Abort when failed / (succeeded + failed) exceeds this percentage'),
    minFinishedBeforeAbort: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .default(d.minFinishedBeforeAbort)
      .describe(
        'The failure rate is judged only once this many IQs succeeded or failed; by default the canary’s size, so the canary alone can abort a bad release',
      ),
    inProgressTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .default(d.inProgressTimeoutSeconds)
      .describe('An update not back on the new version within this time is retried, or failed'),
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(d.retries)
      .describe('Re-sends after an in-progress timeout; a failure the IQ reports is final'),
    offlineDeadlineSeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400)
      .default(d.offlineDeadlineSeconds)
      .describe('An IQ still offline this long after its wave started ends timed_out'),
    maintenanceWindow: z
      .object({ start: HhMm, end: HhMm })
      .optional()
      .describe(
        'Update only inside this window of each site’s local time, e.g. 01:00–05:00; an end not after the ' +
          'start crosses midnight. Default: no window (any time)',
      ),
  })
  .strict();

const CreateRollout = z.object({
  releaseId: IdField,
  target: z
    .object({
      model: z.string().trim().min(1).max(64).optional().describe('Must be the release’s model'),
      siteIds: z.array(IdField).min(1).max(MAX_LISTED_IDS).optional(),
      iqIds: z.array(IdField).min(1).max(MAX_LISTED_IDS).optional(),
    })
    .strict()
    .refine((t) => t.model || t.siteIds || t.iqIds, { message: 'name a model, sites or IQs' })
    .describe(
      'IQs of the release’s model matching every given field; IQs already on the version are skipped',
    ),
  policy: Policy.default(Policy.parse({})),
});

const Counts = z.object({
  queued: z.number().int(),
  inProgress: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  timedOut: z.number().int(),
  skipped: z.number().int(),
  canceled: z.number().int(),
});

const ReleaseRef = z.object({ model: z.string(), version: z.string() });

const Failure = z.object({
  iqId: z.uuid(),
  serial: z.string(),
  siteId: z.uuid(),
  error: z.string().nullable().describe('As the IQ reported it, or `timeout` when it never came back'),
  attempts: z.number().int().describe('Update commands sent to it'),
});

const Created = {
  description: 'Created',
  content: { 'application/json': { schema: z.object({ id: z.uuid() }) } },
};

const createRelease = createRoute({
  method: 'post',
  path: '/firmware-releases',
  operationId: 'createFirmwareRelease',
  tags: ['Support'],
  summary: 'Define a firmware release (F3); 409 release_exists when the model has this version',
  security: [{ bearer: [] }],
  request: jsonBody(Release),
  responses: {
    201: Created,
    ...problemResponses(...SUPPORT_PROBLEMS, 'malformed_json', 'release_exists'),
  },
});

const createRollout = createRoute({
  method: 'post',
  path: '/rollouts',
  operationId: 'startRollout',
  tags: ['Support'],
  summary: 'Start a rollout of a release over a target (F3, F4); workflow rollout-<id>',
  security: [{ bearer: [] }],
  request: jsonBody(CreateRollout),
  responses: {
    201: Created,
    ...problemResponses(...SUPPORT_PROBLEMS, 'malformed_json', 'release_not_found'),
  },
});

const listReleasesRoute = createRoute({
  method: 'get',
  path: '/firmware-releases',
  operationId: 'listFirmwareReleases',
  tags: ['Support'],
  summary: `Firmware releases, newest first (F3; at most ${MAX_RELEASES_LISTED})`,
  security: [{ bearer: [] }],
  responses: {
    200: {
      description: 'Releases',
      content: {
        'application/json': {
          schema: z.object({
            releases: z.array(
              z.object({ id: z.uuid(), model: z.string(), version: z.string(), createdAt: z.iso.datetime() }),
            ),
          }),
        },
      },
    },
    ...problemResponses(...SUPPORT_PROBLEMS),
  },
});

const listRolloutsRoute = createRoute({
  method: 'get',
  path: '/rollouts',
  operationId: 'listRollouts',
  tags: ['Support'],
  summary: 'Rollouts, newest first (F5); pass nextCursor back as cursor for older ones',
  security: [{ bearer: [] }],
  request: {
    query: z.object({
      status: z.enum(STATUSES).optional(),
      cursor: z
        .string()
        .max(200)
        .refine((c) => decodeCursor(c) !== undefined, { message: 'is not a cursor from this API' })
        .optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
    }),
  },
  responses: {
    200: {
      description: 'A page of rollouts',
      content: {
        'application/json': {
          schema: z.object({
            rollouts: z.array(
              z.object({
                id: z.uuid(),
                status: z.enum(STATUSES),
                release: ReleaseRef,
                startedAt: z.iso.datetime(),
                counts: Counts,
              }),
            ),
            nextCursor: z.string().nullable(),
          }),
        },
      },
    },
    ...problemResponses(...SUPPORT_PROBLEMS),
  },
});

const readRollout = createRoute({
  method: 'get',
  path: '/rollouts/{id}',
  operationId: 'getRollout',
  tags: ['Support'],
  summary: `A rollout’s release, wave, counts per state and the failed IQs with their error (F5; at most ${MAX_FAILURES_LISTED})`,
  security: [{ bearer: [] }],
  request: { params: IdParam },
  responses: {
    200: {
      description: 'Progress',
      content: {
        'application/json': {
          schema: z.object({
            id: z.uuid(),
            status: z.enum(STATUSES),
            abortReason: z.string().nullable(),
            release: ReleaseRef.extend({ id: z.uuid() }),
            wave: z
              .number()
              .int()
              .describe(
                'The wave it is in, or ended in (0 = canary): its workflow is rollout-<id>-wave-<wave>',
              ),
            planned: z
              .number()
              .int()
              .describe('IQs to update (the target minus those already on the version)'),
            startedAt: z.iso.datetime(),
            finishedAt: z.iso.datetime().optional().describe('Once completed or aborted'),
            counts: Counts,
            failures: z.array(Failure),
          }),
        },
      },
    },
    ...problemResponses(...SUPPORT_PROBLEMS, 'not_found'),
  },
});

const control = (action: RolloutControl, summary: string) =>
  createRoute({
    method: 'post',
    path: `/rollouts/{id}/${action}`,
    operationId: `${action}Rollout`,
    tags: ['Support'],
    summary: `${summary}; answered once recorded; 409 rollout_finished once it ended`,
    security: [{ bearer: [] }],
    request: { params: IdParam },
    responses: {
      200: {
        description: 'Recorded: the rollout’s status after it (unchanged when there was nothing to do)',
        content: {
          'application/json': {
            schema: z.object({ id: z.uuid(), status: z.enum(['running', 'paused', 'aborted']) }),
          },
        },
      },
      ...problemResponses(...SUPPORT_PROBLEMS, 'not_found', 'rollout_finished'),
    },
  });

export function rolloutRoutes(deps: AppDeps) {
  const { db } = deps;
  const steer = (action: RolloutControl) => async (id: string) => {
    const rollout = await findRollout(db, id);
    if (!rollout) throw notFound('rollout');
    if (rollout.status === 'completed' || rollout.status === 'aborted') throw problem('rollout_finished');
    const status = await controlRollout(deps.temporal, id, action);
    // Ended meanwhile, or (a pause or resume) overtaken by an abort or the end.
    if (status === undefined || status === 'completed' || (status === 'aborted' && action !== 'abort')) {
      throw problem('rollout_finished');
    }
    return { id, status };
  };
  const pause = steer('pause');
  const resume = steer('resume');
  const abort = steer('abort');

  return createRouter()
    .openapi(createRelease, async (c) => {
      const body = c.req.valid('json');
      const release = await insertRelease(db, body);
      if (!release) {
        const existing = await findReleaseByVersion(db, body.model, body.version);
        throw problem('release_exists', undefined, existing ? { existingId: existing.id } : {});
      }
      return c.json({ id: release.id }, 201);
    })
    .openapi(listReleasesRoute, async (c) => {
      const rows = await listReleases(db, MAX_RELEASES_LISTED);
      return c.json({ releases: rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() })) }, 200);
    })
    .openapi(listRolloutsRoute, async (c) => {
      const { status, cursor, limit } = c.req.valid('query');
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      const rows = await listRollouts(db, { status, after, limit: limit + 1 });
      const page = rows.slice(0, limit);
      const counts = await countsOfRollouts(
        db,
        page.map((r) => r.id),
      );
      return c.json(
        {
          rollouts: page.map((r) => ({
            id: r.id,
            status: r.status,
            release: { model: r.model, version: r.version },
            startedAt: r.createdAt.toISOString(),
            counts: counts.get(r.id)!,
          })),
          nextCursor: rows.length > limit ? encodeCursor(page.at(-1)!) : null,
        },
        200,
      );
    })
    .openapi(createRollout, async (c) => {
      const { releaseId, target, policy } = c.req.valid('json');
      const release = await findRelease(db, releaseId);
      if (!release) {
        throw problem('release_not_found', undefined, {
          errors: [{ path: 'body.releaseId', message: 'no such release' }],
        });
      }
      if (target.model !== undefined && target.model !== release.model) {
        throw problem(
          'validation_failed',
          'The request is invalid: body.target.model: is not the release’s model',
          {
            errors: [{ path: 'body.target.model', message: 'is not the release’s model' }],
          },
        );
      }
      const rollout = await insertRollout(db, { releaseId, target, policy });
      try {
        await startRollout(deps.temporal, deps.env.TEMPORAL_TASK_QUEUE, rollout.id);
      } catch (error) {
        // A 503 must leave no rollout behind: one that never runs would show `running` for good,
        // refuse its controls, and the client's retry would make a second (N3).
        if (await withdrawUnstartedRollout(db, rollout.id)) throw error;
      }
      return c.json({ id: rollout.id }, 201);
    })
    .openapi(readRollout, async (c) => {
      const { id } = c.req.valid('param');
      const found = await findRolloutWithRelease(db, id);
      if (!found) throw notFound('rollout');
      const { rollout, release } = found;
      const [counts, plan, failures] = await Promise.all([
        rolloutCounts(db, id),
        rolloutPlan(db, id),
        rolloutFailures(db, id, MAX_FAILURES_LISTED),
      ]);
      const policy = { ...DEFAULT_POLICY, ...(rollout.policy as Partial<RolloutPolicy>) };
      return c.json(
        {
          id,
          status: rollout.status,
          abortReason: rollout.abortReason,
          release: { id: release.id, model: release.model, version: release.version },
          wave: plan.furthest === null ? 0 : waveOfPosition(plan.furthest, policy),
          planned: plan.planned,
          startedAt: rollout.createdAt.toISOString(),
          ...(rollout.finishedAt ? { finishedAt: rollout.finishedAt.toISOString() } : {}),
          counts,
          failures,
        },
        200,
      );
    })
    .openapi(control('pause', 'Pause: no new updates start; those in progress finish'), async (c) =>
      c.json(await pause(c.req.valid('param').id), 200),
    )
    .openapi(control('resume', 'Resume a paused rollout'), async (c) =>
      c.json(await resume(c.req.valid('param').id), 200),
    )
    .openapi(control('abort', 'Abort: nothing new starts; updates in progress end canceled'), async (c) =>
      c.json(await abort(c.req.valid('param').id), 200),
    );
}
