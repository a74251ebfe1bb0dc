import { z } from '@hono/zod-openapi';

export const EmailField = z.email('must be an email address').max(320);
export const PasswordField = z.string().min(10, 'must be at least 10 characters').max(1024);
export const TokenParam = z.object({ token: z.string().min(1).max(256) });
export const ProfileSchema = z.object({ id: z.uuid(), email: z.string(), name: z.string() });

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');

const problemDescriptions: Record<number, string> = {
  400: 'Invalid input (validation_failed, malformed_json)',
  401: 'Missing or invalid credentials',
  403: 'Refused for the caller’s role or the site’s subscription',
  404: 'Not found, or not visible to the caller',
  409: 'Conflicts with the current state',
  410: 'The link was used or has expired',
  422: 'Understood but not allowed',
  429: 'Too many attempts; see Retry-After',
};

/** The problem+json answers a route documents, by status. */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      {
        description: problemDescriptions[s] ?? 'Problem',
        content: { 'application/problem+json': { schema: ProblemSchema } },
      },
    ]),
  ) as Record<
    number,
    { description: string; content: { 'application/problem+json': { schema: typeof ProblemSchema } } }
  >;
}

export function jsonBody<T extends z.ZodType>(schema: T) {
  return { body: { required: true, content: { 'application/json': { schema } } } } as const;
}

const html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });

/**
 * Answers of a public email-link page: the page, a page saying the link is used or expired (410), and
 * a problem for a token that cannot be one (400).
 */
export function linkPageResponses(page: string) {
  return {
    200: html(page),
    410: html('HTML page: the link was used, has expired, or was canceled'),
    ...problemResponses(400),
  };
}
