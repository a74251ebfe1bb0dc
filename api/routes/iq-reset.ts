import { createRoute, z } from '@hono/zod-openapi';
import { resetIq } from '../../operations/iqs';
import type { AppDeps } from '../deps';
import { createRouter } from '../router';
import { IdField, problemResponses, SITE_PROBLEMS, SiteIdParam } from '../schemas';
import { siteAccess } from '../site-access';

const reset = createRoute({
  method: 'post',
  path: '/{siteId}/iqs/{iqId}/reset',
  operationId: 'resetIq',
  tags: ['IQs'],
  summary:
    'Reset an IQ (K3, owner only): every PIN on it needs activation again (a PIN reset re-activates ' +
    'one). 409 iq_unsubscribed (K5).',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam.extend({ iqId: IdField }) },
  responses: {
    200: {
      description: 'Reset',
      content: {
        'application/json': { schema: z.object({ iqId: z.uuid(), pinsInvalidated: z.number().int() }) },
      },
    },
    ...problemResponses(...SITE_PROBLEMS, 'no_valid_subscription', 'iq_unsubscribed'),
  },
});

export function iqResetRoutes(deps: AppDeps) {
  return createRouter().openapi(reset, async (c) => {
    const { siteId, iqId } = c.req.valid('param');
    const { actor } = await siteAccess(deps, c, siteId, { roles: ['owner'] });
    const pinsInvalidated = await resetIq(deps.db, { siteId, iqId, actor, now: deps.now() });
    return c.json({ iqId, pinsInvalidated }, 200);
  });
}
