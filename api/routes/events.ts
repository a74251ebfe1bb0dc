import { createRoute, z } from '@hono/zod-openapi';
import { eventsPageJson } from '../../db/queries/events';
import { chooseNotifications } from '../../operations/sites';
import { readOf } from '../auth/reads-with-session';
import type { AppDeps } from '../deps';
import { EventsQuery, encodeCursor, eventsPageOfQuery } from '../events-page';
import { jsonText } from '../json-text';
import { createRouter } from '../router';
import { jsonBody, problemResponses, SITE_PROBLEMS, SiteIdParam } from '../schemas';
import { siteAccess } from '../site-access';

/** K6: the event types an owner may choose to be emailed about. */
export const NOTIFIABLE_EVENT_TYPES = [
  'lock.open_refused',
  'tamper',
  'door_left_open',
  'low_battery',
  'intrusion',
] as const;

const EventSchema = z
  .object({
    id: z.uuid(),
    at: z.iso.datetime(),
    type: z.string(),
    actor: z.object({
      kind: z.string().openapi({ description: 'profile, system, device or deleted-profile' }),
      profileId: z.uuid().nullable(),
    }),
    subjectProfileId: z.uuid().nullable(),
    lockId: z.uuid().nullable(),
    iqId: z.uuid().nullable(),
    data: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('Event');

const EventsPage = z.object({ events: z.array(EventSchema), nextCursor: z.string().nullable() });

const list = createRoute({
  method: 'get',
  path: '/{siteId}/events',
  operationId: 'listSiteEvents',
  tags: ['Events'],
  summary: 'The site’s audit trail, newest first; pass nextCursor back as cursor for older events',
  security: [{ bearer: [] }],
  request: {
    params: SiteIdParam,
    query: EventsQuery,
  },
  responses: {
    200: {
      description: 'Events',
      content: {
        'application/json': {
          schema: EventsPage,
        },
      },
    },
    ...problemResponses(...SITE_PROBLEMS, 'no_valid_subscription'),
  },
});

const Notifications = z.object({ eventTypes: z.array(z.enum(NOTIFIABLE_EVENT_TYPES)).max(20) });

const notifications = createRoute({
  method: 'put',
  path: '/{siteId}/notifications',
  operationId: 'setSiteNotifications',
  tags: ['Events'],
  summary: 'Choose which event types email the owner (K6, owner only); replaces the previous choice',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam, ...jsonBody(Notifications) },
  responses: {
    200: { description: 'Saved', content: { 'application/json': { schema: Notifications } } },
    ...problemResponses(...SITE_PROBLEMS, 'malformed_json', 'no_valid_subscription'),
  },
});

export function eventRoutes(deps: AppDeps) {
  const { db } = deps;
  return createRouter()
    .openapi(list, async (c) => {
      const { siteId } = c.req.valid('param');
      const page = eventsPageOfQuery(c.req.valid('query'));
      const { read } = await siteAccess(deps, c, siteId, { roles: ['owner', 'admin'] });
      // Read with the session (api/auth/reads-with-session.ts), or here when it was not.
      const { eventsJson, nextSeq } = readOf(read, 'events') ?? (await eventsPageJson(db, siteId, page));
      const nextCursor = nextSeq === null ? null : encodeCursor(nextSeq);
      // The events come as JSON text from the database (db/queries/events.ts): the page is joined, not rebuilt.
      return jsonText<z.infer<typeof EventsPage>>(
        c,
        `{"events":[${eventsJson}],"nextCursor":${JSON.stringify(nextCursor)}}`,
      );
    })
    .openapi(notifications, async (c) => {
      const { siteId } = c.req.valid('param');
      const eventTypes = [...new Set(c.req.valid('json').eventTypes)].sort();
      const { actor } = await siteAccess(deps, c, siteId, { roles: ['owner'] });
      await chooseNotifications(db, { siteId, eventTypes, actor, now: deps.now() });
      return c.json({ eventTypes }, 200);
    });
}
