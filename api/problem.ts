import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { errorCodeOf } from '../db/errors';
import { Refusal } from '../domain/reasons';
import { PROBLEMS, type ProblemCode, type ProblemEntry, problemTitle } from './problem-codes';

export interface FieldError {
  path: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors?: FieldError[];
  /** A conflict's existing resource (409 release_exists). */
  existingId?: string;
}

/** A refusal with a stable code; thrown from handlers and answered as application/problem+json. */
export class ApiProblem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    readonly detail: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>,
    readonly existingId?: string,
  ) {
    super(detail);
  }
}

/** The problem the catalogue holds for `code`, with a more specific detail, field errors or headers. */
export function problem(
  code: ProblemCode,
  detail?: string,
  extra: { errors?: FieldError[]; headers?: Record<string, string>; existingId?: string } = {},
): ApiProblem {
  const entry: ProblemEntry = PROBLEMS[code];
  const headers = entry.headers || extra.headers ? { ...entry.headers, ...extra.headers } : undefined;
  return new ApiProblem(entry.status, code, detail ?? entry.detail, extra.errors, headers, extra.existingId);
}

export const notFound = (what = 'resource') => problem('not_found', `No such ${what}.`);
export const forbidden = (detail?: string) => problem('forbidden', detail);

export function problemBody(
  status: number,
  code: string,
  detail: string,
  errors?: FieldError[],
  existingId?: string,
): Problem {
  return {
    type: `https://ks-cloud.dev/problems/${code}`,
    title: problemTitle(status),
    status,
    detail,
    code,
    ...(errors?.length ? { errors } : {}),
    ...(existingId ? { existingId } : {}),
  };
}

export function problemResponse(c: Context, p: ApiProblem): Response {
  const body = problemBody(p.status, p.code, p.detail, p.errors, p.existingId);
  return c.body(JSON.stringify(body), p.status, {
    'content-type': 'application/problem+json',
    ...p.headers,
  });
}

export function validationProblem(error: ZodError, target: string): ApiProblem {
  // Name fields as a client sees them: body.email, query.limit, params.siteId.
  const where = target === 'json' || target === 'form' ? 'body' : target === 'param' ? 'params' : target;
  const errors = error.issues.flatMap((issue) => {
    const at = [where, ...issue.path.map(String)];
    // zod v4 reports a strict object's unknown keys in one issue at the object: name each key's field.
    if (issue.code === 'unrecognized_keys')
      return issue.keys.map((key) => ({ path: [...at, key].join('.'), message: 'Unrecognized key' }));
    return [{ path: at.join('.'), message: issue.message }];
  });
  const detail = errors.map((e) => `${e.path}: ${e.message}`).join('; ');
  return problem('validation_failed', `The request is invalid: ${detail}`, { errors });
}

/** Maps anything thrown in a handler to a problem answer; unexpected errors never leak details. */
export function toProblem(error: unknown): ApiProblem {
  if (error instanceof ApiProblem) return error;
  if (error instanceof Refusal) {
    return problem(error.reason, error.detail, error.fields ? { errors: [...error.fields] } : {});
  }
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode;
    if (status === 400 && /json/i.test(error.message)) return problem('malformed_json');
    const code =
      status === 401
        ? 'unauthorized'
        : status === 413
          ? 'payload_too_large'
          : status === 415
            ? 'unsupported_media_type'
            : 'bad_request';
    // The exception's own status: Hono may refuse with any 4xx.
    return new ApiProblem(status, code, error.message || PROBLEMS.bad_request.detail);
  }
  if (isUnavailable(error)) return problem('temporarily_unavailable');
  return problem('internal_error');
}

/** The driver's and the socket's codes of a connection to PostgreSQL lost or not made. */
const CONNECTION_FAILURES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

/** Connection-level failures of PostgreSQL or Temporal: the request may succeed when retried. */
function isUnavailable(error: unknown): boolean {
  const code = errorCodeOf(error);
  // Drizzle wraps the driver's error: the socket's syscall sits on the cause too.
  const e = error as { syscall?: unknown; cause?: { syscall?: unknown } } | null;
  const syscall = e?.syscall ?? e?.cause?.syscall;
  return (
    (typeof code === 'string' &&
      (code.startsWith('08') ||
        CONNECTION_FAILURES.has(code) ||
        // A Unix socket (the embedded server's) is gone while the server is down.
        (code === 'ENOENT' && syscall === 'connect'))) ||
    (error instanceof Error && error.name === 'ServiceError') ||
    // An update that failed in the worker without the workflow's own answer (our handlers answer every
    // refusal as a result). Seen under bursts of updates on one new workflow: the SDK core reports
    // "a new WFT for a run which already has one". The same request (Idempotency-Key) may be retried.
    (error instanceof Error && error.name === 'WorkflowUpdateFailedError')
  );
}
