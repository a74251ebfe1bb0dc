// Schemas and OpenAPI pieces shared by the routers in routes/.
import { z } from '@hono/zod-openapi';
import { type Problem, problemBody } from './problem';
import { PROBLEMS, type ProblemCode } from './problem-codes';

export const EmailField = z.email('must be an email address').max(320);
export const PasswordField = z.string().min(10, 'must be at least 10 characters').max(1024);
export const TokenParam = z.object({ token: z.string().min(1).max(256) });
export const ProfileSchema = z.object({ id: z.uuid(), email: z.string(), name: z.string() });

/**
 * An id the API takes (in a path, a query or a body): a UUID in any letter case, read in lower case,
 * as PostgreSQL spells it, so that one id is one string wherever a string is a key (the site's
 * workflow id, a throttle key, an idempotency scope). Taken as typed, `/support/sites/<ID>/clock`
 * with the id in capitals started a second subscription workflow for the site.
 */
export const IdField = z.uuid().toLowerCase();

export const SiteIdParam = z.object({ siteId: IdField });
/**
 * What every route of one site can answer before its own work: a bad id or body, no token, a role
 * that may not, and 404 for a site that is unknown or not the caller's (N4). Routes that need a
 * valid subscription (V7) add `no_valid_subscription`.
 */
export const SITE_PROBLEMS = ['validation_failed', 'unauthorized', 'forbidden', 'not_found'] as const;
/** What every support route can answer: a bad input, no token, a caller who is not support. */
export const SUPPORT_PROBLEMS = ['validation_failed', 'unauthorized', 'forbidden'] as const;
/** A support resource (deletion request, rollout) by its id. */
export const IdParam = z.object({ id: IdField });

/** The zone's IANA name as Intl spells it (`europe/berlin` → `Europe/Berlin`); undefined for no zone. */
const canonicalTimeZone = (tz: string): string | undefined => {
  try {
    return new Intl.DateTimeFormat('en', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
};
const isTimeZone = (tz: string) => canonicalTimeZone(tz) !== undefined;
/** What may border a name and is dropped: spaces of every kind and the invisible characters copying brings. */
const NAME_EDGES = /^[\s\p{Cf}]+|[\s\p{Cf}]+$/gu;
/**
 * Control characters (a line break would end an email's subject line) and the bidirectional marks,
 * embeddings, overrides and isolates, which make a name read in another order than it is written
 * (U+202E turns "Hannah\u202Efdp.exe" into what looks like "Hannahexe.pdf").
 */
const NAME_FORBIDDEN = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;
/**
 * A name people read, in emails and on pages (a person's, a site's, a lock's, an IQ's): trimmed of
 * spaces and invisible characters at its ends; refused with control or bidirectional formatting
 * characters, or when nothing visible is left. Checks only: its OpenAPI schema stays a string.
 */
export const displayName = (max: number) =>
  z
    .string()
    .overwrite((s) => s.replace(NAME_EDGES, ''))
    .min(1, 'is required')
    .max(max)
    .refine((s) => !NAME_FORBIDDEN.test(s), 'must not hold control or bidirectional formatting characters');
export const SiteNameField = displayName(200);
/**
 * A tag's UID as printed on it or as an IQ's reader reports it: held to a name's rules, since people
 * read it in lists, IQs match tags by it, and an invisible character would make one tag two.
 */
export const TagUidField = displayName(100);
/** A site's time zone, kept as Intl spells it: the emails and pages show it as written. */
export const TimeZoneField = z
  .string()
  .max(100)
  .overwrite((tz) => canonicalTimeZone(tz) ?? tz)
  .refine(isTimeZone, { message: 'is not an IANA time zone' });

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    existingId: z.string().optional().describe('A conflict’s existing resource (release_exists)'),
  })
  .openapi('Problem');

export const problemContent = { 'application/problem+json': { schema: ProblemSchema } };
/** The public email-link pages answer HTML. */
export const htmlContent = { 'text/html': { schema: z.string() } };

const retryAfter = {
  'Retry-After': { schema: { type: 'integer' as const }, description: 'Seconds to wait before trying again' },
};

type ProblemResponse = {
  description: string;
  content: {
    'application/problem+json': {
      schema: typeof ProblemSchema;
      examples: Record<string, { summary: string; value: Problem }>;
    };
  };
  headers?: typeof retryAfter;
};

/**
 * The problem+json answers a route documents: the codes it can answer (catalogue:
 * problem-codes.ts), grouped by their status, each with an example body as the API answers it.
 * 429 and 503 document Retry-After.
 */
export function problemResponses(...codes: ProblemCode[]): Record<number, ProblemResponse> {
  const byStatus = new Map<number, ProblemCode[]>();
  for (const code of codes) {
    const { status } = PROBLEMS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, listed]) => [
      status,
      {
        description: listed.join(', '),
        content: {
          'application/problem+json': {
            schema: ProblemSchema,
            examples: Object.fromEntries(
              listed.map((code) => [
                code,
                { summary: code, value: problemBody(status, code, PROBLEMS[code].detail) },
              ]),
            ),
          },
        },
        ...(status === 429 || status === 503 ? { headers: retryAfter } : {}),
      },
    ]),
  );
}

export function jsonBody<T extends z.ZodType>(schema: T) {
  return { body: { required: true, content: { 'application/json': { schema } } } } as const;
}

/**
 * Answers of a public email-link page: the page, a page saying the link is used or expired (410), and
 * a problem for a token that cannot be one (400).
 */
export function linkPageResponses(page: string) {
  return {
    200: { description: page, content: htmlContent },
    ...linkPageRefusals,
    410: { description: 'HTML page: the link was used, has expired, or was canceled', content: htmlContent },
  };
}

/** What an email-link page answers a request it cannot read: pages too, a browser shows them. */
export const linkPageRefusals = {
  400: { description: 'HTML page: a field or the query could not be read', content: htmlContent },
  404: { description: 'HTML page: the token cannot be a link we send', content: htmlContent },
};
