import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { html } from 'hono/html';
import { findUsableConsent, recordConsentByToken } from '../../db/queries/deletions';
import { consentDeadlineMs, maskEmail } from '../../domain/profile-deletion';
import { hashToken } from '../../domain/secrets';
import { formatSiteDate } from '../../emails/format';
import { errorField, logger } from '../../observability/logger';
import { signalConsent } from '../../workflows/client/profile-deletion';
import type { AppDeps } from '../deps';
import { isFormType, linkGonePage, linkNotFoundPage, page } from '../pages';
import { problem } from '../problem';
import { createRouter } from '../router';
import { htmlContent, linkPageRefusals, problemResponses } from '../schemas';

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
  operationId: 'getConsentPage',
  tags: ['Profile deletion'],
  summary: 'Page naming the request and the site, with Approve and Deny buttons (changes nothing; HEAD too)',
  security: [],
  request: { params: TokenParam },
  responses: {
    200: { description: 'HTML page', content: htmlContent },
    ...linkPageRefusals,
    410: { description: 'HTML page: link used, expired, or its request ended', content: htmlContent },
  },
});

const decide = createRoute({
  method: 'post',
  path: '/{token}',
  operationId: 'answerConsent',
  tags: ['Profile deletion'],
  summary: 'Record the site owner’s decision (once); a used or expired link answers 410',
  security: [],
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
    400: { description: 'HTML page: no decision, or a field that could not be read', content: htmlContent },
    ...problemResponses('unsupported_media_type'),
  },
});

const gone = (c: Context) =>
  linkGonePage(
    c,
    html`<p>This link was used, has expired, or the request it belongs to has ended. If you received a
      newer email about this request, use the link in that one.</p>`,
  );

type Consent = NonNullable<Awaited<ReturnType<typeof findUsableConsent>>>;

/** The request's consent deadline, as the consent email words it, with its instant for machines. */
function answerBy(consent: Consent) {
  const at = new Date(consentDeadlineMs(consent.deadlineAt.getTime()));
  return html`<time datetime="${at.toISOString()}">${formatSiteDate(at, consent.timezone)}</time>`;
}

/**
 * D3: the request as its site's owner needs it to decide: who (name and masked email: two people can
 * share a name), who filed it and when, what either answer does, and until when. Works without
 * JavaScript; Approve is the primary action, Deny a distinct one.
 */
function consentPage(c: Context, consent: Consent) {
  return page(
    c,
    'Profile deletion request',
    html`<p>A member of <strong>${consent.siteName}</strong> has asked KS Cloud to delete their profile. As the
        owner of ${consent.siteName} you decide whether their data may be deleted.</p>
      <dl class="facts">
        <dt>Member</dt><dd><strong>${consent.personName}</strong> (<span class="email">${maskEmail(consent.personEmail)}</span>)</dd>
        <dt>Site</dt><dd>${consent.siteName}</dd>
        <dt>Filed by</dt><dd>KS Cloud support, at the member’s request, on <time datetime="${consent.filedAt.toISOString()}">${formatSiteDate(consent.filedAt, consent.timezone)}</time></dd>
        <dt>Answer by</dt><dd><strong>${answerBy(consent)}</strong></dd>
      </dl>
      <h2>What your answer does</h2>
      <ul>
        <li><strong>Approve:</strong> once every site they belong to has approved, they leave ${consent.siteName}
          and every other site, all their keys, PINs and remote opening rights are revoked, the site's events
          they took part in stay without anything that leads back to them, and their profile is deleted.</li>
        <li><strong>Deny:</strong> the request ends and nothing is deleted; KS Cloud support is told.</li>
        <li>Without an answer from every site by then, the request ends and nothing is deleted.</li>
      </ul>
      <p>Your site's subscription is not affected either way. You can answer once.</p>
      <form method="post" class="actions">
        <button type="submit" name="decision" value="approve" class="primary">Approve deletion</button>
        <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
      </form>`,
  );
}

/** The thank-you page: what was recorded and what happens next. */
function thankYouPage(c: Context, consent: Consent, decision: 'approve' | 'deny') {
  return page(
    c,
    decision === 'approve' ? 'Approval recorded' : 'Denial recorded',
    decision === 'approve'
      ? html`<p>Thank you. Your approval for <strong>${consent.siteName}</strong> is recorded.</p>
          <h2>What happens next</h2>
          <ul>
            <li>When every site ${consent.personName} belongs to has approved, their profile is deleted and they
              leave ${consent.siteName}; their keys, PINs and remote opening rights stop working, and the slot
              they held is freed.</li>
            <li>If another site's owner denies, or not every site answers by ${answerBy(consent)}, nothing is
              deleted.</li>
            <li>You need to do nothing more. This link no longer works.</li>
          </ul>`
      : html`<p>Thank you. Your denial for <strong>${consent.siteName}</strong> is recorded.</p>
          <h2>What happens next</h2>
          <ul>
            <li>The request ends: nothing of ${consent.personName}'s is deleted, and they stay a member of
              ${consent.siteName} with the access they have.</li>
            <li>KS Cloud support is told, and tells them.</li>
            <li>You need to do nothing more. This link no longer works.</li>
          </ul>`,
  );
}

/** D3: public pages behind the links in consent emails; only the form submission records anything. */
export function consentRoutes(deps: AppDeps) {
  const { db } = deps;
  return createRouter()
    .openapi(show, async (c) => {
      const { token } = c.req.valid('param');
      if (!TOKEN_SHAPE.test(token)) return linkNotFoundPage(c) as never;
      const consent = await findUsableConsent(db, hashToken(token), deps.now());
      if (!consent) return gone(c) as never;
      return consentPage(c, consent) as never;
    })
    .openapi(decide, async (c) => {
      const { token } = c.req.valid('param');
      if (!TOKEN_SHAPE.test(token)) return linkNotFoundPage(c) as never;
      if (!isFormType(c.req.header('content-type'))) {
        throw problem('unsupported_media_type', 'Send the form (application/x-www-form-urlencoded).');
      }
      const { decision } = c.req.valid('form');
      const tokenHash = hashToken(token);
      // Read for the thank-you page; the one statement below decides whether the answer counts.
      const consent = await findUsableConsent(db, tokenHash, deps.now());
      if (!consent) return gone(c) as never;
      const recorded = await recordConsentByToken(
        db,
        tokenHash,
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
      return thankYouPage(c, consent, decision) as never;
    });
}
