import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { html } from 'hono/html';
import { findUsableToken } from '../../db/queries/email-tokens';
import { invitedSiteNames } from '../../db/queries/invitations';
import { acceptInvitation } from '../../operations/invitations';
import { hashPassword } from '../auth/passwords';
import type { AppDeps } from '../deps';
import { linkGonePage, page } from '../pages';
import { createRouter } from '../router';
import { htmlContent, PasswordField, problemContent, problemResponses, TokenParam } from '../schemas';

const invitationPage = createRoute({
  method: 'get',
  path: '/{token}',
  tags: ['Accounts'],
  summary: 'Page with a form (name, password) that accepts an invitation; changes nothing by itself',
  request: { params: TokenParam },
  responses: {
    200: { description: 'HTML page with the form', content: htmlContent },
    410: { description: 'HTML page: link used or expired', content: htmlContent },
    ...problemResponses('validation_failed'),
  },
});

// Lenient on purpose: a bad field answers the form again as a page, not a JSON problem.
const AcceptForm = z.object({ name: z.string().optional(), password: z.string().optional() });
const acceptedFields = z.object({
  name: z.string().trim().min(1, 'is required').max(200),
  password: PasswordField,
});

const accept = createRoute({
  method: 'post',
  path: '/{token}',
  tags: ['Accounts'],
  summary:
    'Accept an invitation: creates a confirmed profile with the invited email and joins every site ' +
    'that invited it',
  request: {
    params: TokenParam,
    body: { required: true, content: { 'application/x-www-form-urlencoded': { schema: AcceptForm } } },
  },
  responses: {
    200: { description: 'HTML page: account created', content: htmlContent },
    400: {
      description: 'HTML page: the form again, naming the bad field; a problem when the token cannot be one',
      content: { ...htmlContent, ...problemContent },
    },
    410: { description: 'HTML page: link used or expired', content: htmlContent },
  },
});

const gone = (c: Context) => linkGonePage(c, html`<p>This invitation link was used or has expired.</p>`);

function form(c: Context, email: string, sites: string[], error?: string) {
  return page(
    c,
    'Accept your invitation',
    html`<p>You were invited to ${sites.join(', ') || 'KS Cloud'}. Your account will use <strong>${email}</strong>.</p>
      ${error ? html`<p role="alert"><strong>${error}</strong></p>` : ''}
      <form method="post">
        <label for="name">Your name</label>
        <input id="name" name="name" required maxlength="200" autocomplete="name">
        <label for="password">Password (at least 10 characters)</label>
        <input id="password" name="password" type="password" minlength="10" required autocomplete="new-password">
        <p><button type="submit">Create my account</button></p>
      </form>`,
    error ? 400 : 200,
  );
}

export function invitationRoutes(deps: AppDeps) {
  const { db } = deps;
  return createRouter()
    .openapi(invitationPage, async (c) => {
      const { token } = c.req.valid('param');
      const row = await findUsableToken(db, 'invitation', token, deps.now());
      if (!row?.email) return gone(c) as never;
      return form(c, row.email, await invitedSiteNames(db, row.email)) as never;
    })
    .openapi(accept, async (c) => {
      const { token } = c.req.valid('param');
      const row = await findUsableToken(db, 'invitation', token, deps.now());
      if (!row?.email) return gone(c) as never;
      const fields = acceptedFields.safeParse(c.req.valid('form'));
      if (!fields.success) {
        const issue = fields.error.issues[0];
        return form(
          c,
          row.email,
          await invitedSiteNames(db, row.email),
          `${String(issue?.path[0] ?? 'form')} ${issue?.message ?? 'is invalid'}`,
        ) as never;
      }
      const outcome = await acceptInvitation(db, {
        tokenId: row.id,
        email: row.email,
        name: fields.data.name,
        passwordHash: await hashPassword(fields.data.password),
        now: deps.now(),
      });
      if (outcome === 'gone') return gone(c) as never;
      return page(
        c,
        outcome === 'created' ? 'Your account is ready' : 'Invitation accepted',
        outcome === 'created'
          ? html`<p>You can now log in with ${row.email} and your password.</p>`
          : html`<p>You already had an account with ${row.email}; the invitation was added to it. Log in as usual.</p>`,
      ) as never;
    });
}
