import { randomUUID } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import { clientAddressReader } from '../client-address';
import type { AppEnv } from '../deps';

/** A request id a client or proxy sent is kept when it is short and plain (hono's requestId's rule). */
const PLAIN_ID = /^[\w\-=]{1,255}$/;

/**
 * Every answer's security headers (API.md asks nosniff of every answer): those a JSON answer acts on
 * (MIME sniffing, framing, cross-origin reads; HSTS in production is added below). OWASP's REST
 * Security Cheat Sheet lists these for API answers but CORP, and CSP `frame-ancestors 'none'` besides,
 * which X-Frame-Options DENY stands for here.
 */
const ANSWER_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
];
/**
 * What only a document a browser renders acts on (its opener, referrer, prefetching, legacy filters;
 * hono's secureHeaders' others): on the pages only (issue 15: on a JSON answer they act on nothing and
 * cost a GET about 5 % of the machine's CPU, in the API's writing and the client's reading).
 */
const DOCUMENT_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/**
 * What every request is given and every answer carries, in one middleware (issue 15: one async step
 * instead of four): the client's address (A6) and a request id (X-Request-Id as sent when plain, else
 * a new UUID; answered back). On the answer, unless its route set its own: the security headers (HSTS
 * in production only: development runs on plain http), a document's (any answer but JSON or none) with
 * those of a page, and `cache-control: no-store` (answers carry personal data: profiles, people,
 * events). Pages setting their own CSP, referrer policy or caching keep theirs.
 */
export function requestAndAnswerHeaders(opts: { production: boolean; trustedProxies: readonly string[] }) {
  const clientAddress = clientAddressReader(opts.trustedProxies);
  const answer: ReadonlyArray<readonly [string, string]> = opts.production
    ? [...ANSWER_HEADERS, ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains']]
    : ANSWER_HEADERS;
  const page = [...answer, ...DOCUMENT_HEADERS];
  return createMiddleware<AppEnv>(async (c, next) => {
    c.set('clientAddress', clientAddress(c));
    const sent = c.req.header('x-request-id');
    const id = sent !== undefined && PLAIN_ID.test(sent) ? sent : randomUUID();
    c.set('requestId', id);
    c.header('X-Request-Id', id);
    await next();
    const headers = c.res.headers;
    const type = headers.get('content-type');
    const document = type !== null && !type.includes('json');
    for (const [name, value] of document ? page : answer) if (!headers.has(name)) headers.set(name, value);
    headers.delete('X-Powered-By');
    if (!headers.has('cache-control')) headers.set('cache-control', 'no-store');
  });
}
