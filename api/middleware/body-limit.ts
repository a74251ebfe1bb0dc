import { bodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../deps';
import { problem } from '../problem';
import { hasNoBody } from './input-checks';

/** No request of the API needs a bigger body. */
export const MAX_BODY_BYTES = 256 * 1024;

const counted = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw problem('payload_too_large');
  },
});

/**
 * 413 `payload_too_large` past MAX_BODY_BYTES. A body of declared length (not chunked) is judged by
 * its Content-Length, as Hono's bodyLimit judges it, but without asking for the body first: that
 * builds a whole Fetch Request and stream from Node's message (issue 15: a third of a remote
 * opening's CPU in the API). A GET or HEAD has no body; any other body is counted as it is read.
 */
export const limitBody = createMiddleware<AppEnv>((c, next) => {
  if (hasNoBody(c.req.method)) return next();
  const declared = c.req.header('content-length');
  if (declared === undefined || c.req.header('transfer-encoding') !== undefined) return counted(c, next);
  if (Number.parseInt(declared, 10) > MAX_BODY_BYTES) throw problem('payload_too_large');
  return next();
});
