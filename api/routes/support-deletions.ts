import { createRoute, z } from '@hono/zod-openapi';
import {
  cancelDeletionRequest,
  type DeletionRequest,
  findDeletionRequest,
  listConsents,
  namedSites,
  ownedSiteIds,
} from '../../db/queries/deletions';
import { findProfileByEmail } from '../../db/queries/profiles';
import { consentDeadlineMs, DEADLINE_AFTER_MS } from '../../domain/profile-deletion';
import { fileProfileDeletion } from '../../operations/profile-deletion';
import { signalCancel, startProfileDeletion } from '../../workflows/client/profile-deletion';
import type { AppDeps } from '../deps';
import { notFound, problem } from '../problem';
import { createRouter } from '../router';
import { EmailField, IdParam, jsonBody, problemResponses, SUPPORT_PROBLEMS } from '../schemas';

const Status = z.enum(['awaiting_consent', 'blocked_owner', 'denied', 'timed_out', 'canceled', 'completed']);

/** D6: the sites whose ownership must pass to someone else before the profile can be deleted. */
const BlockingSites = z
  .array(z.object({ siteId: z.uuid(), name: z.string() }))
  .openapi({ description: 'With `blocked_owner`: the sites the profile owns, to transfer first (D6)' });

const RequestSchema = z.object({
  id: z.uuid(),
  status: Status,
  sites: z.array(z.object({ siteId: z.uuid(), decision: z.enum(['pending', 'approved', 'denied']) })),
  /** With `blocked_owner`: the sites the profile owns now (D6). */
  blockingSiteIds: z.array(z.uuid()),
  blockingSites: BlockingSites,
  /** The last moment an owner's answer is taken (links expire then): the consent emails and page show it. */
  consentDeadline: z.iso.datetime(),
  deadlineAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().nullable(),
});

const file = createRoute({
  method: 'post',
  path: '/profile-deletions',
  operationId: 'fileProfileDeletion',
  tags: ['Support'],
  summary:
    'File a deletion request for the profile with this email (D1); an open request for it is answered ' +
    'instead of a second one. A profile that owns a site is answered `blocked_owner` at once, naming ' +
    'the sites to transfer first (D6). 404 profile_not_found when no profile has the email',
  security: [{ bearer: [] }],
  request: jsonBody(z.object({ email: EmailField })),
  responses: {
    202: {
      description: 'Filed, or the open request',
      content: {
        'application/json': {
          schema: z.object({ id: z.uuid(), status: Status, blockingSites: BlockingSites }),
        },
      },
    },
    ...problemResponses(...SUPPORT_PROBLEMS, 'malformed_json', 'profile_not_found'),
  },
});

const read = createRoute({
  method: 'get',
  path: '/profile-deletions/{id}',
  operationId: 'getProfileDeletion',
  tags: ['Support'],
  summary: 'A deletion request and each site’s decision',
  security: [{ bearer: [] }],
  request: { params: IdParam },
  responses: {
    200: { description: 'The request', content: { 'application/json': { schema: RequestSchema } } },
    ...problemResponses(...SUPPORT_PROBLEMS, 'not_found'),
  },
});

const cancel = createRoute({
  method: 'post',
  path: '/profile-deletions/{id}/cancel',
  operationId: 'cancelProfileDeletion',
  tags: ['Support'],
  summary: 'Cancel an open deletion request; its links stop working. 409 deletion_finished once it ended',
  security: [{ bearer: [] }],
  request: { params: IdParam },
  responses: {
    200: {
      description: 'Canceled',
      content: { 'application/json': { schema: z.object({ id: z.uuid(), status: z.literal('canceled') }) } },
    },
    ...problemResponses(...SUPPORT_PROBLEMS, 'not_found', 'deletion_finished'),
  },
});

export function supportDeletionRoutes(deps: AppDeps) {
  const { db } = deps;

  const view = async (request: DeletionRequest) => {
    const blocking =
      request.status === 'blocked_owner' && request.profileId
        ? await namedSites(db, await ownedSiteIds(db, request.profileId))
        : [];
    return {
      id: request.id,
      status: request.status,
      sites: await listConsents(db, request.id),
      blockingSiteIds: blocking.map((s) => s.siteId),
      blockingSites: blocking,
      consentDeadline: new Date(consentDeadlineMs(request.deadlineAt.getTime())).toISOString(),
      deadlineAt: request.deadlineAt.toISOString(),
      finishedAt: request.finishedAt?.toISOString() ?? null,
    };
  };

  return createRouter()
    .openapi(file, async (c) => {
      const { email } = c.req.valid('json');
      const profile = await findProfileByEmail(db, email);
      if (!profile) {
        throw problem('profile_not_found', undefined, {
          errors: [{ path: 'body.email', message: 'no profile has this email' }],
        });
      }
      const now = deps.now();
      // The workflow sets the deadline it runs on; this one holds until it starts.
      const { request, blockingSites } = await fileProfileDeletion(db, {
        profileId: profile.id,
        deadlineAt: new Date(now.getTime() + DEADLINE_AFTER_MS),
        now,
      });
      // Also for an open request: a filing whose start failed gets its workflow now. A blocked one's
      // workflow tells support what to do (and is found by `SiteIds`).
      await startProfileDeletion(deps.temporal, deps.env.TEMPORAL_TASK_QUEUE, request.id, {
        role: 'support',
        profileId: c.get('profile').id,
      });
      return c.json({ id: request.id, status: request.status, blockingSites }, 202);
    })
    .openapi(read, async (c) => {
      const request = await findDeletionRequest(db, c.req.valid('param').id);
      if (!request) throw notFound('deletion request');
      return c.json(await view(request), 200);
    })
    .openapi(cancel, async (c) => {
      const { id } = c.req.valid('param');
      const result = await cancelDeletionRequest(db, id, deps.now());
      if (result === 'not_found') throw notFound('deletion request');
      if (result === 'finished') throw problem('deletion_finished');
      await signalCancel(deps.temporal, id);
      return c.json({ id, status: 'canceled' as const }, 200);
    });
}
