import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { html } from 'hono/html';
import type { SiteRole } from '../../db/schema/sites';
import {
  acceptInvitation,
  confirmedAccountOf,
  type InvitationView,
  usableInvitation,
} from '../../operations/invitations';
import { hashPassword } from '../auth/passwords';
import type { AppDeps } from '../deps';
import { linkGonePage, page } from '../pages';
import { createRouter } from '../router';
import { displayName, htmlContent, linkPageRefusals, PasswordField, TokenParam } from '../schemas';

const invitationPage = createRoute({
  method: 'get',
  path: '/{token}',
  operationId: 'getInvitationPage',
  tags: ['Accounts'],
  summary:
    'The invitation page (S7): the site, who invited whom, the role, what accepting means and the ' +
    'deadline, with an Accept form (name and password too when the email has no profile yet). ' +
    'Changes nothing.',
  security: [],
  request: { params: TokenParam },
  responses: {
    200: { description: 'HTML page with the form', content: htmlContent },
    ...linkPageRefusals,
    410: {
      description: 'HTML page: the invitation was used, withdrawn or has expired',
      content: htmlContent,
    },
  },
});

// Lenient on purpose: a bad field answers the form again as a page, not a JSON problem.
const AcceptForm = z.object({ name: z.string().optional(), password: z.string().optional() });
const accountFields = z.object({
  name: displayName(200),
  password: PasswordField,
});

const accept = createRoute({
  method: 'post',
  path: '/{token}',
  operationId: 'acceptInvitation',
  tags: ['Accounts'],
  summary:
    'Accept an invitation: the person joins that one site with the invited role; an email without a ' +
    'profile gets a confirmed profile with the name and password given. The link works once.',
  security: [],
  request: {
    params: TokenParam,
    body: { required: true, content: { 'application/x-www-form-urlencoded': { schema: AcceptForm } } },
  },
  responses: {
    200: { description: 'HTML page: joined (and the account created)', content: htmlContent },
    ...linkPageRefusals,
    400: {
      description: 'HTML page: the form again naming the bad field, or a page naming what could not be read',
      content: htmlContent,
    },
    410: {
      description: 'HTML page: the invitation was used, withdrawn or has expired',
      content: htmlContent,
    },
  },
});

const gone = (c: Context) =>
  linkGonePage(
    c,
    html`<p>This invitation can no longer be accepted: it was already used, withdrawn, or has expired.</p>
      <p>If you still want to join, ask the person who invited you to send a new invitation.</p>`,
  );

/** What each role may do at a site, in the words of the page. */
const ROLE_WORDS: Record<SiteRole, { as: string; means: string }> = {
  owner: {
    as: 'its owner',
    means:
      'As the owner you hold the master key, manage the site’s people, IQs, locks and subscription, and receive its emails. Once the installer releases the site, it is yours alone.',
  },
  admin: {
    as: 'an admin',
    means: 'As an admin you help manage the site: its people, their access, the IQs and the subscription.',
  },
  user: {
    as: 'a member',
    means:
      'As a member you can be given access to its doors (a tag, a mobile key, a PIN or remote opening) by its owner or admins.',
  },
};

function deadline(view: InvitationView) {
  const format = (timeZone: string) =>
    new Intl.DateTimeFormat('en-GB', {
      weekday: 'long',
      day: 'numeric',
      month: 'long',
      year: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZone,
      timeZoneName: 'short',
    }).format(view.invitation.expiresAt);
  return view.siteTimezone === 'UTC' ? format('UTC') : `${format(view.siteTimezone)} (${format('UTC')})`;
}

function invitationForm(c: Context, view: InvitationView, error?: string) {
  const { invitation } = view;
  const words = ROLE_WORDS[invitation.role];
  const inviter = view.inviterName ?? 'KS Cloud';
  const newAccount = !confirmedAccountOf(view);
  return page(
    c,
    `Join ${view.siteName}`,
    html`<p><strong>${inviter}</strong> invited <strong>${invitation.email}</strong> to the site
        <strong>${view.siteName}</strong> on KS Cloud as ${words.as}.</p>
      <p>${words.means}</p>
      <h2>What accepting means</h2>
      <ul>
        <li>You become a member of ${view.siteName}: its owner and admins see your name and email address.</li>
        <li>No one gets access to a door through this invitation; access is given afterwards.</li>
        <li>${invitation.role === 'owner' ? 'You can later hand the site over to one of its admins.' : 'You can leave the site whenever you like.'}</li>
      </ul>
      <p>The invitation is open until <strong><time datetime="${invitation.expiresAt.toISOString()}">${deadline(view)}</time></strong>.
        If you do not accept, nothing happens: you do not become a member, and the link stops working then.</p>
      ${error ? html`<p role="alert"><strong>${error}</strong></p>` : ''}
      <form method="post">
        ${
          newAccount
            ? html`<p>Choose your name and a password for your KS Cloud account. It uses ${invitation.email}, which cannot be changed later.</p>
        <label for="name">Your name</label>
        <input id="name" name="name" required maxlength="200" autocomplete="name">
        <label for="password">Password (at least 10 characters)</label>
        <input id="password" name="password" type="password" minlength="10" required autocomplete="new-password">
        <p><button type="submit">Create my account and join ${view.siteName}</button></p>`
            : html`<p>You already have a KS Cloud account with ${invitation.email}; accepting adds ${view.siteName} to it.</p>
        <p><button type="submit">Accept and join ${view.siteName}</button></p>`
        }
      </form>
      <p>Not expecting this? Ignore it: the invitation expires on its own.</p>`,
    error ? 400 : 200,
  );
}

export function invitationRoutes(deps: AppDeps) {
  const { db } = deps;
  return createRouter()
    .openapi(invitationPage, async (c) => {
      const { token } = c.req.valid('param');
      const view = await usableInvitation(db, token, deps.now());
      if (!view) return gone(c) as never;
      return invitationForm(c, view) as never;
    })
    .openapi(accept, async (c) => {
      const { token } = c.req.valid('param');
      const view = await usableInvitation(db, token, deps.now());
      if (!view) return gone(c) as never;
      let account: { name: string; passwordHash: string } | undefined;
      if (!confirmedAccountOf(view)) {
        const fields = accountFields.safeParse(c.req.valid('form'));
        if (!fields.success) {
          const issue = fields.error.issues[0];
          return invitationForm(
            c,
            view,
            `${String(issue?.path[0] ?? 'form')} ${issue?.message ?? 'is invalid'}`,
          ) as never;
        }
        account = { name: fields.data.name, passwordHash: await hashPassword(fields.data.password) };
      }
      const outcome = await acceptInvitation(db, { token, account, now: deps.now() });
      if (outcome.kind === 'gone') return gone(c) as never;
      if (outcome.kind === 'needs_account') {
        // The email's profile appeared or went between the page and this answer: ask again.
        const again = await usableInvitation(db, token, deps.now());
        if (!again) return gone(c) as never;
        return invitationForm(c, again, 'Please fill in the form again.') as never;
      }
      const site = outcome.siteName;
      if (outcome.kind === 'already_member') {
        return page(
          c,
          `You are a member of ${site}`,
          html`<p>${outcome.email} was already a member of ${site}; nothing changed.</p>`,
        ) as never;
      }
      const next =
        outcome.role === 'owner'
          ? html`<p>You can now manage ${site}; its installer hands it over to you when the installation is done.</p>`
          : html`<p>The site’s owner and admins can now give you access to its doors. You can leave ${site} whenever you like.</p>`;
      return page(
        c,
        `You joined ${site}`,
        outcome.kind === 'created'
          ? html`<p>Your account is ready: log in with ${outcome.email} and the password you chose.</p>${next}`
          : html`<p>${site} was added to your account ${outcome.email}. Log in as usual.</p>${next}`,
      ) as never;
    });
}
