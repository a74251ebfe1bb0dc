import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../deps';
import { problem } from '../problem';

const NUL = '\u0000';

/** Path (body.a.b) of the first string holding a NUL character, searching nested values. */
function findNul(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes(NUL) ? path : undefined;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = findNul(item, `${path}.${i}`);
      if (found) return found;
    }
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = findNul(key, `${path}.${key}`) ?? findNul(item, `${path}.${key}`);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * Forms are read as raw bytes (which Hono caches for the route's validator): parsing them here would
 * cache a failed parse of a malformed form, which the validator would then rethrow unhandled.
 */
function findNulInForm(contentType: string, body: ArrayBuffer): string | undefined {
  const text = new TextDecoder().decode(body);
  if (contentType.includes('urlencoded')) {
    for (const [key, value] of new URLSearchParams(text)) {
      if (key.includes(NUL) || value.includes(NUL)) return `body.${key.replaceAll(NUL, '')}`;
    }
    return undefined;
  }
  return text.includes(NUL) ? 'body' : undefined;
}

/**
 * PostgreSQL text cannot hold NUL, so such input would fail deep in a query. Every request is checked
 * once here, before any route, and refused as the bad input it is. Bodies are cached by Hono, so the
 * route's own validator reads the same bytes.
 */
export const rejectNulCharacters = createMiddleware<AppEnv>(async (c, next) => {
  const url = new URL(c.req.url);
  const where = /%00/i.test(url.pathname) ? 'params' : /%00/i.test(url.search) ? 'query' : undefined;
  let path = where;
  if (!path) {
    const type = c.req.header('content-type') ?? '';
    if (type.includes('json')) path = findNul(await c.req.json().catch(() => undefined), 'body');
    else if (type.includes('form')) path = findNulInForm(type, await c.req.arrayBuffer());
  }
  if (path) {
    throw problem('validation_failed', `The request is invalid: ${path}: must not contain NUL characters`, {
      errors: [{ path, message: 'must not contain NUL characters' }],
    });
  }
  await next();
});
