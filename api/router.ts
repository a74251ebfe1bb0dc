import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './deps';
import { problemResponse, validationProblem } from './problem';

/** Every router validates with the same hook, so a bad field always answers the same problem shape. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) =>
      result.success ? undefined : problemResponse(c, validationProblem(result.error, result.target)),
  });
}
