import { createRoute, z } from '@hono/zod-openapi';
import { syncAccessLists } from '../../db/queries/access-lists';
import { recordEvent } from '../../db/queries/events';
import { findIqOfSite, invalidatePinsOnIq } from '../../db/queries/people';
import { lockSite } from '../../db/queries/subscriptions';
import type { AppDeps } from '../deps';
import { notFound, problem } from '../problem';
import { createRouter } from '../router';
import { problemResponses, SITE_PROBLEMS, SiteIdParam } from '../schemas';
import { siteAccess } from '../site-access';

const reset = createRoute({
  method: 'post',
  path: '/{siteId}/iqs/{iqId}/reset',
  tags: ['IQs'],
  summary:
    'Reset an IQ (K3, owner only): every PIN on it needs activation again (a PIN reset re-activates ' +
    'one). 409 iq_unsubscribed (K5).',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam.extend({ iqId: z.uuid() }) },
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
    await siteAccess(deps, c, siteId, { roles: ['owner'] });
    const now = deps.now();
    const pinsInvalidated = await deps.db.transaction(async (tx) => {
      await lockSite(tx, siteId);
      const iq = await findIqOfSite(tx, siteId, iqId);
      if (!iq) throw notFound('IQ');
      if (!iq.subscribed) throw problem('iq_unsubscribed');
      const n = await invalidatePinsOnIq(tx, iqId);
      // K3, K7: the invalidated PINs leave the IQ's list.
      await syncAccessLists(tx, { siteId, iqIds: [iqId] });
      await recordEvent(tx, {
        siteId,
        at: now,
        type: 'iq.reset',
        actorProfileId: c.get('profile').id,
        iqId,
        data: { pinsInvalidated: n },
      });
      return n;
    });
    return c.json({ iqId, pinsInvalidated }, 200);
  });
}
