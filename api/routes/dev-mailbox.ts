import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { html } from 'hono/html';
import { findSentEmail, listMailbox, MAILBOX_SIZE } from '../../db/queries/sent-emails';
import type { AppDeps } from '../deps';
import { page } from '../pages';
import { forbidden, notFound } from '../problem';
import { createRouter } from '../router';
import { IdField, problemResponses } from '../schemas';

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
  operationId: 'listDevMailbox',
  tags: ['Development'],
  summary: `The ${MAILBOX_SIZE} newest emails the system sent, newest first (development mode only)`,
  description:
    'JSON for tools; a browser (an `Accept` header preferring `text/html`) gets an HTML index linking each email.',
  security: [],
  responses: {
    200: {
      description: 'Mailbox',
      content: {
        'application/json': { schema: z.array(MailboxEntry) },
        'text/html': { schema: z.string() },
      },
    },
    // Like every route: a query that is not valid UTF-8 or holds NUL (N2); a Host not of this machine.
    ...problemResponses('validation_failed', 'forbidden'),
  },
});

const show = createRoute({
  method: 'get',
  path: '/{id}',
  operationId: 'getDevMailboxEmail',
  tags: ['Development'],
  summary: 'The rendered HTML of one email (development mode only)',
  security: [],
  request: { params: z.object({ id: IdField }) },
  responses: {
    200: { description: 'HTML', content: { 'text/html': { schema: z.string() } } },
    ...problemResponses('validation_failed', 'forbidden', 'not_found'),
  },
});

/** The names a developer's own machine is reached by (URL.hostname spells IPv6 in brackets). */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * The mailbox shows reset and invitation links: it answers only requests addressed to this machine
 * (the Host header, which the request's URL is built from), so a page of another site that a DNS
 * rebinding points at the developer's API cannot read it.
 */
const loopbackOnly = createMiddleware(async (c, next) => {
  if (!LOOPBACK_HOSTS.has(new URL(c.req.url).hostname)) {
    throw forbidden('The development mailbox answers only requests to localhost, 127.0.0.1 or [::1].');
  }
  await next();
});

/** Mounted only when KS_MODE=development: in production the routes do not exist. */
export function devMailboxRoutes(deps: AppDeps) {
  const router = createRouter();
  router.use(loopbackOnly);
  return router
    .openapi(list, async (c) => {
      const rows = (await listMailbox(deps.db)).map((r) => ({
        ...r,
        sentAt: r.sentAt?.toISOString() ?? null,
      }));
      if (prefersHtml(c)) return mailboxPage(c, rows);
      return c.json(rows, 200);
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

type Entry = z.infer<typeof MailboxEntry>;

/** A browser asks for text/html before JSON; tools (curl, fetch) send no Accept or `application/json`. */
function prefersHtml(c: Context): boolean {
  const accept = c.req.header('accept') ?? '';
  const htmlAt = accept.indexOf('text/html');
  const jsonAt = accept.indexOf('application/json');
  return htmlAt !== -1 && (jsonAt === -1 || htmlAt < jsonAt);
}

function mailboxPage(c: Context, rows: Entry[]) {
  const items = rows.map(
    (r) => html`<tr>
<td><a href="/dev/mailbox/${r.id}">${r.subject}</a></td><td>${r.to}</td><td><code>${r.template}</code></td>
<td>${r.sentAt === null ? 'not sent yet' : html`<time datetime="${r.sentAt}">${r.sentAt.replace('T', ' ').slice(0, 19)} UTC</time>`}</td>
</tr>`,
  );
  const body =
    rows.length === 0
      ? html`<p>No email has been sent yet.</p>`
      : html`<p>${rows.length} email${rows.length === 1 ? '' : 's'}, newest first. The same list as JSON: <code>curl ${new URL(c.req.url).pathname}</code>.</p>
<table><thead><tr><th>Subject</th><th>To</th><th>Template</th><th>Sent</th></tr></thead><tbody>${items}</tbody></table>`;
  return page(c, 'Development mailbox', body, 200, { wide: true });
}
