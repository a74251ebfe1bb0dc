import type { Context } from 'hono';
import { html, raw } from 'hono/html';
import { matchedRoutes } from 'hono/route';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { FieldError } from './problem';

/**
 * Headers of every public email-link page: nothing loads from elsewhere (inline style only), no script
 * runs, forms post only to us, and no referrer leaks the token in the URL.
 */
export const pageSecurityHeaders = {
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
} as const;

const style = raw(`<style>
body{font-family:Helvetica,Arial,sans-serif;background:#f4f5f7;color:#1f2933;margin:0}
main{max-width:520px;margin:48px auto;background:#fff;padding:24px 32px;border-radius:6px}
button{font-size:16px;padding:8px 16px;margin-right:8px;cursor:pointer}
label{display:block;margin:12px 0 4px}input{font-size:16px;padding:6px;width:100%;box-sizing:border-box}
main.wide{max-width:1100px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e4e7eb;vertical-align:top}
header{max-width:520px;margin:32px auto -32px;font-weight:bold;font-size:18px;color:#1f4e79}
header.wide{max-width:1100px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px}dl.facts dt{color:#52606d}dl.facts dd{margin:0}
form.actions{display:flex;gap:12px;flex-wrap:wrap;margin-top:24px}
button.primary{background:#1f4e79;color:#fff;border:2px solid #1f4e79;border-radius:4px;font-weight:bold}
button.secondary{background:#fff;color:#b42318;border:2px solid #b42318;border-radius:4px}
</style>`);

export function page(
  c: Context,
  title: string,
  body: HtmlEscapedString | Promise<HtmlEscapedString>,
  status: ContentfulStatusCode = 200,
  options: { wide?: boolean } = {},
) {
  const doc = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${title} · KS Cloud</title>${style}</head>
<body><header${options.wide ? raw(' class="wide"') : ''}>KS Cloud</header>
<main${options.wide ? raw(' class="wide"') : ''}><h1>${title}</h1>${body}</main></body></html>`;
  return c.html(doc, status, pageSecurityHeaders);
}

/** The 410 page of a link that was used, has expired or was withdrawn; `sentence` says which link. */
export const linkGonePage = (c: Context, sentence: HtmlEscapedString | Promise<HtmlEscapedString>) =>
  page(c, 'Link no longer valid', sentence, 410);

/** Route patterns of the public email-link pages (API.md): a browser opens them and reads the answer. */
const LINK_PAGES: ReadonlySet<string> = new Set([
  '/auth/confirm/:token',
  '/auth/password-reset/:token',
  '/invitations/:token',
  '/consents/:token',
]);
/** Also the JSON endpoint that sets a password (API.md): there only the HTML form's POST is a page. */
const ALSO_JSON = '/auth/password-reset/:token';

/** What an HTML form posts. */
export const isFormType = (contentType: string | undefined) => {
  const type = (contentType ?? '').toLowerCase();
  return type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data');
};

/** A request for an email-link page or its form, whose refusals are pages, not JSON problems. */
export function isLinkPageRequest(c: Context): boolean {
  const route = matchedRoutes(c).findLast((r) => r.method !== 'ALL')?.path;
  if (route === undefined || !LINK_PAGES.has(route)) return false;
  return route !== ALSO_JSON || c.req.method !== 'POST' || isFormType(c.req.header('content-type'));
}

/** The 404 page of a link we never sent (a token that cannot be one). */
export const linkNotFoundPage = (c: Context) =>
  page(c, 'Link not found', html`<p>This is not a valid link.</p>`, 404);

/** The 400 page of a link page's request that could not be read; `why` names the field and the reason. */
export const unreadableRequestPage = (c: Context, why: string) =>
  page(
    c,
    'Something in the request is not right',
    html`<p>${why}.</p><p><a href="">Back to the page</a></p>`,
    400,
  );

/**
 * A link page's answer to a request refused for `errors`: a token that cannot be one we sent is a link
 * not found, as the consent page answers it; anything else (a form's field, the query) is named.
 */
export function refusalPage(c: Context, errors: readonly FieldError[]) {
  if (errors.some((e) => e.path.startsWith('params'))) return linkNotFoundPage(c);
  return unreadableRequestPage(
    c,
    errors.map((e) => `${e.path.replace(/^body\./, '')}: ${e.message}`).join('; '),
  );
}
