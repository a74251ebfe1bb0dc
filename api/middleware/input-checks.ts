import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { matchedRoutes } from 'hono/route';
import type { AppEnv } from '../deps';
import { isLinkPageRequest, refusalPage } from '../pages';
import { problem } from '../problem';
import {
  componentProblem,
  decodeUtf8,
  decodeUtf8Escaped,
  type FoundProblem,
  findJsonProblem,
  percentDecode,
  stringProblem,
  TEXT_PROBLEMS,
} from './text-checks';

/** GET and HEAD requests have no body: the Fetch API's Request cannot hold one. */
export const hasNoBody = (method: string) => method === 'GET' || method === 'HEAD';

/** `params.<name>` of the first bad path segment, named by the pattern of the route it matched. */
function findPathProblem(c: Context<AppEnv>, pathname: string): FoundProblem | undefined {
  const segments = pathname.split('/');
  const bad = segments.findIndex((segment) => componentProblem(segment, false));
  if (bad < 0) return undefined;
  const endpoint = matchedRoutes(c).findLast((r) => r.method !== 'ALL');
  const name = endpoint?.path.split('/')[bad]?.match(/^:(\w+)/)?.[1];
  return { path: name ? `params.${name}` : 'params', problem: componentProblem(segments[bad]!, false)! };
}

/** `query.<name>` (or `body.<name>` for a form) of the first bad pair of a query string or form. */
function findPairsProblem(encoded: string, root: string): FoundProblem | undefined {
  for (const pair of encoded.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const [key, value] = at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
    const found = componentProblem(key, true) ?? componentProblem(value, true);
    if (!found) continue;
    // The key as JSON would write it (a NUL or lone surrogate escaped); unnamed when it is not text.
    const readable = decodeUtf8(percentDecode(key, true));
    return { path: readable ? `${root}.${JSON.stringify(readable).slice(1, -1)}` : root, problem: found };
  }
  return undefined;
}

/**
 * A JSON body read once as bytes: refused when it is not UTF-8 or holds a bad string or nests too
 * deep; otherwise its text is cached for the route's validator (Hono reads the cache), so the body is
 * decoded once and strictly. Malformed JSON is left to the validator, which answers `malformed_json`.
 */
async function findJsonBodyProblem(c: Context<AppEnv>): Promise<FoundProblem | undefined> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const text = decodeUtf8(bytes);
  const readable = text ?? decodeUtf8Escaped(bytes);
  let value: unknown;
  try {
    value = JSON.parse(readable);
  } catch {
    return text === undefined ? { path: 'body', problem: 'utf8' } : undefined;
  }
  const found = findJsonProblem(value, 'body', text === undefined);
  // Hono keeps promises in its body cache (its type says values).
  if (!found && text !== undefined) Object.assign(c.req.bodyCache, { text: Promise.resolve(text) });
  return found ?? (text === undefined ? { path: 'body', problem: 'utf8' } : undefined);
}

/**
 * Forms are read as raw bytes (which Hono caches for the route's validator): parsing them here would
 * cache a failed parse of a malformed form, which the validator would then rethrow unhandled.
 */
async function findFormProblem(c: Context<AppEnv>, contentType: string): Promise<FoundProblem | undefined> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (contentType.includes('urlencoded')) {
    const text = decodeUtf8(bytes);
    return text === undefined ? { path: 'body', problem: 'utf8' } : findPairsProblem(text, 'body');
  }
  const text = decodeUtf8(bytes);
  if (text === undefined) return { path: 'body', problem: 'utf8' };
  const problem = stringProblem(text);
  return problem ? { path: 'body', problem } : undefined;
}

/**
 * N2: input that PostgreSQL cannot store (NUL), that would be stored as something else than was sent
 * (invalid UTF-8, lone surrogates: U+FFFD instead), or that nests deeper than any request of the API
 * is refused before any route with 400 `validation_failed` naming the field (an email-link page with a
 * page: a browser shows it). Nothing here recurses: a body of 100,000 nested arrays is walked like a
 * flat one.
 */
export const inputChecks = createMiddleware<AppEnv>(async (c, next) => {
  const url = c.req.url;
  const queryAt = url.indexOf('?');
  const pathname = new URL(url).pathname;
  let found = findPathProblem(c, pathname);
  if (!found && queryAt >= 0) found = findPairsProblem(url.slice(queryAt + 1).split('#')[0]!, 'query');
  if (!found && !hasNoBody(c.req.method)) {
    const type = (c.req.header('content-type') ?? '').toLowerCase();
    if (type.includes('json')) found = await findJsonBodyProblem(c);
    else if (type.includes('form')) found = await findFormProblem(c, type);
  }
  if (!found) return next();
  const errors = [{ path: found.path, message: TEXT_PROBLEMS[found.problem] }];
  if (isLinkPageRequest(c)) return refusalPage(c, errors);
  throw problem('validation_failed', `The request is invalid: ${found.path}: ${errors[0]!.message}`, {
    errors,
  });
});
