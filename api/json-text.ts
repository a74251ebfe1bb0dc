import type { Context, TypedResponse } from 'hono';
import type { JSONParsed } from 'hono/utils/types';

/**
 * A 200 answer whose JSON text is already written (by PostgreSQL, issue 15), typed as the route's
 * JSON answer `T`: the caller vouches that the text is `T` as JSON.
 */
export function jsonText<T>(c: Context, text: string) {
  return c.body(text, 200, { 'content-type': 'application/json' }) as unknown as TypedResponse<
    JSONParsed<T>,
    200,
    'json'
  >;
}
