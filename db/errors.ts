import { DrizzleQueryError } from 'drizzle-orm/errors';

/** A database failure that keeps what helps an operator (the SQL, the server's error code) and drops the bound values. */
export class QueryFailure extends Error {
  constructor(
    readonly query: string,
    readonly code: string | undefined,
    reason: string,
  ) {
    super(`query failed (${code ?? 'no code'}: ${reason}): ${query}`);
    this.name = 'QueryFailure';
  }
}

/**
 * Drizzle puts a failed query's parameters (emails, names) in the error message, and PostgreSQL's
 * message of a refused value may quote it: both would reach logs and workflow histories. Anything
 * else passes through unchanged.
 */
export function withoutQueryParams(error: unknown): unknown {
  if (!(error instanceof DrizzleQueryError)) return error;
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const message = typeof cause?.message === 'string' ? cause.message : 'unknown';
  // A data exception's message may quote the refused value (`invalid input syntax for type uuid:
  // "…"`): only what comes before the first quote or colon is kept.
  const reason = code?.startsWith('22') ? `${message.split(/[":]/, 1)[0]!.trim()} …` : message;
  const failure = new QueryFailure(error.query, code, reason);
  // The frames only: the wrapped error's stack begins with its message (the SQL, then the values,
  // over as many lines as they hold), cut off whole; without it, no frames.
  const header = `${error.name}: ${error.message}`;
  const frames = error.stack?.startsWith(header) ? error.stack.slice(header.length) : '';
  failure.stack = `${failure.name}: ${failure.message}${frames}`;
  return failure;
}
