import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './deps';
import { isLinkPageRequest, refusalPage } from './pages';
import { problemResponse, validationProblem } from './problem';

/**
 * Every router validates with the same hook, so a bad field always answers the same problem shape;
 * an email-link page, which a browser shows, answers a page instead.
 */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return undefined;
      const refused = validationProblem(result.error, result.target);
      return isLinkPageRequest(c) ? refusalPage(c, refused.errors ?? []) : problemResponse(c, refused);
    },
  });
}
