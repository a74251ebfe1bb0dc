import { createRoute, z } from '@hono/zod-openapi';
import { findSentEmail, listMailbox } from '../../db/queries/sent-emails';
import type { AppDeps } from '../deps';
import { notFound } from '../problem';
import { createRouter } from '../router';
import { problemResponses } from '../schemas';

const MailboxEntry = z.object({
  id: z.uuid(),
  to: z.string(),
  subject: z.string(),
  template: z.string(),
  sentAt: z.string().nullable(),
});

const list = createRoute({
  method: 'get',
  path: '/',
  tags: ['Development'],
  summary: 'Emails the system sent, newest first (development mode only)',
  responses: {
    200: { description: 'Mailbox', content: { 'application/json': { schema: z.array(MailboxEntry) } } },
  },
});

const show = createRoute({
  method: 'get',
  path: '/{id}',
  tags: ['Development'],
  summary: 'The rendered HTML of one email (development mode only)',
  request: { params: z.object({ id: z.uuid() }) },
  responses: {
    200: { description: 'HTML', content: { 'text/html': { schema: z.string() } } },
    ...problemResponses('validation_failed', 'not_found'),
  },
});

/** Mounted only when KS_MODE=development: in production the routes do not exist. */
export function devMailboxRoutes(deps: AppDeps) {
  return createRouter()
    .openapi(list, async (c) => {
      const rows = await listMailbox(deps.db);
      return c.json(
        rows.map((r) => ({ ...r, sentAt: r.sentAt?.toISOString() ?? null })),
        200,
      );
    })
    .openapi(show, async (c) => {
      const row = await findSentEmail(deps.db, c.req.valid('param').id);
      if (!row) throw notFound('email');
      // The email's own HTML, served from the API's origin: it may link out but load and run nothing.
      return c.html(row.html, 200, {
        'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        'referrer-policy': 'no-referrer',
        'x-content-type-options': 'nosniff',
      });
    });
}
