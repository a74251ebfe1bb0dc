import type { Context } from 'hono';
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

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
