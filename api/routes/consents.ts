import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { html } from 'hono/html';
import { findUsableConsent, recordConsentByToken } from '../../db/queries/deletions';
import { hashToken } from '../../domain/secrets';
import { formatSiteDate } from '../../emails/format';
import { errorField, logger } from '../../observability/logger';
import { signalConsent } from '../../workflows/client/profile-deletion';
import type { AppDeps } from '../deps';
import { linkGonePage, page } from '../pages';
import { problem } from '../problem';
import { createRouter } from '../router';
import { htmlContent, problemResponses } from '../schemas';

/**
 * What `newToken()` makes: 32 bytes in base64url. Anything else cannot be a link we sent and answers
 * 404 without a database lookup; a well-formed token we do not hold (forged, used, expired, canceled)
 * answers 410.
 */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

// Loose on purpose: a malformed token answers an HTML page, not a JSON validation problem.
const TokenParam = z.object({ token: z.string() });

const show = createRoute({
  method: 'get',
  path: '/{token}',
  tags: ['Profile deletion'],
  summary: 'Page naming the request and the site, with Approve and Deny buttons (changes nothing; HEAD too)',
  request: { params: TokenParam },
  responses: {
    200: { description: 'HTML page', content: htmlContent },
    404: { description: 'HTML page: not a link we send', content: htmlContent },
    410: { description: 'HTML page: link used, expired, or its request ended', content: htmlContent },
  },
});

const decide = createRoute({
  method: 'post',
  path: '/{token}',
  tags: ['Profile deletion'],
  summary: 'Record the site owner’s decision (once); a used or expired link answers 410',
  request: {
    params: TokenParam,
    body: {
      content: {
        'application/x-www-form-urlencoded': { schema: z.object({ decision: z.enum(['approve', 'deny']) }) },
      },
    },
  },
  responses: {
    200: { description: 'HTML page: decision recorded', content: htmlContent },
    404: { description: 'HTML page: not a link we send', content: htmlContent },
    410: { description: 'HTML page: link used, expired, or its request ended', content: htmlContent },
    ...problemResponses('validation_failed', 'unsupported_media_type'),
  },
});

const gone = (c: Context) =>
  linkGonePage(
    c,
    html`<p>This link was used, has expired, or the request it belongs to has ended. If you received a
      newer email about this request, use the link in that one.</p>`,
  );

const unknown = (c: Context) => page(c, 'Link not found', html`<p>This is not a valid link.</p>`, 404);

/** D3: public pages behind the links in consent emails; only the form submission records anything. */
export function consentRoutes(deps: AppDeps) {
  const { db } = deps;
  return createRouter()
    .openapi(show, async (c) => {
      const { token } = c.req.valid('param');
      if (!TOKEN_SHAPE.test(token)) return unknown(c) as never;
      const consent = await findUsableConsent(db, hashToken(token), deps.now());
      if (!consent) return gone(c) as never;
      return page(
        c,
        'Profile deletion request',
        html`<p><strong>${consent.personName}</strong>, a member of <strong>${consent.siteName}</strong>,
          has asked KS Cloud to delete their profile. As the owner of ${consent.siteName} you decide whether
          their data may be deleted.</p>
          <p>If every site they belong to approves, they leave ${consent.siteName} and every other site,
          all their keys, PINs and remote opening rights are revoked, the site's events they took part in
          stay without anything that leads back to them, and their profile is deleted. Your site's
          subscription is not affected.</p>
          <p>If you deny, nothing is deleted.</p>
          <p>Please answer by ${formatSiteDate(consent.deadlineAt, consent.timezone)}.</p>
          <form method="post">
            <button type="submit" name="decision" value="approve">Approve deletion</button>
            <button type="submit" name="decision" value="deny">Deny</button>
          </form>`,
      ) as never;
    })
    .openapi(decide, async (c) => {
      const { token } = c.req.valid('param');
      if (!TOKEN_SHAPE.test(token)) return unknown(c) as never;
      const contentType = (c.req.header('content-type') ?? '').toLowerCase();
      if (
        !contentType.startsWith('application/x-www-form-urlencoded') &&
        !contentType.startsWith('multipart/form-data')
      ) {
        throw problem('unsupported_media_type', 'Send the form (application/x-www-form-urlencoded).');
      }
      const { decision } = c.req.valid('form');
      const recorded = await recordConsentByToken(
        db,
        hashToken(token),
        decision === 'approve' ? 'approved' : 'denied',
        deps.now(),
      );
      if (!recorded) return gone(c) as never;
      try {
        await signalConsent(deps.temporal, recorded.requestId, {
          siteId: recorded.siteId,
          decision: decision === 'approve' ? 'approved' : 'denied',
        });
      } catch (error) {
        // The decision is stored; the workflow reads it at the deadline at the latest.
        logger.error({ err: errorField(error) }, 'consent recorded but not signalled');
      }
      return page(
        c,
        'Thank you',
        decision === 'approve'
          ? html`<p>Your approval is recorded. The profile is deleted once every site has approved.</p>`
          : html`<p>Your decision is recorded. Nothing will be deleted.</p>`,
      ) as never;
    });
}
