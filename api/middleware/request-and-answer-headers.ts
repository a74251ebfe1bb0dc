import { randomUUID } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import { clientAddressReader } from '../client-address';
import type { AppEnv } from '../deps';

/** A request id a client or proxy sent is kept when it is short and plain (hono's requestId's rule). */
const PLAIN_ID = /^[\w\-=]{1,255}$/;

/** API.md's security headers, in hono's secureHeaders order and values, X-Frame-Options DENY. */
const SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'DENY'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/**
 * What every request is given and every answer carries, in one middleware (issue 15: one async step
 * instead of four): the client's address (A6) and a request id (X-Request-Id as sent when plain, else
 * a new UUID; answered back). On the answer, unless its route set its own: the security headers (HSTS
 * in production only: development runs on plain http) and `cache-control: no-store` (answers carry
 * personal data: profiles, people, events). Pages setting their own CSP, referrer policy or caching
 * keep theirs.
 */
export function requestAndAnswerHeaders(opts: { production: boolean; trustedProxies: readonly string[] }) {
  const clientAddress = clientAddressReader(opts.trustedProxies);
  const security: ReadonlyArray<readonly [string, string]> = opts.production
    ? [
        ...SECURITY_HEADERS.slice(0, 4),
        ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
        ...SECURITY_HEADERS.slice(4),
      ]
    : SECURITY_HEADERS;
  return createMiddleware<AppEnv>(async (c, next) => {
    c.set('clientAddress', clientAddress(c));
    const sent = c.req.header('x-request-id');
    const id = sent !== undefined && PLAIN_ID.test(sent) ? sent : randomUUID();
    c.set('requestId', id);
    c.header('X-Request-Id', id);
    await next();
    const headers = c.res.headers;
    for (const [name, value] of security) if (!headers.has(name)) headers.set(name, value);
    headers.delete('X-Powered-By');
    if (!headers.has('cache-control')) headers.set('cache-control', 'no-store');
  });
}
