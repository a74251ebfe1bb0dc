import { DrizzleQueryError } from 'drizzle-orm/errors';

/** A database failure that keeps what helps an operator (the SQL, the server's error code) and drops the bound values. */
export class QueryFailure extends Error {
  constructor(
    readonly query: string,
    readonly code: string | undefined,
    readonly reason: string,
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

/**
 * What PostgreSQL answers when it ended a transaction so that others could go on: a deadlock's victim
 * (40P01), a serialization failure (40001). Everything it wrote is rolled back, and run again it
 * normally goes through (db/client.ts runs it again).
 */
const ENDED_TO_LET_OTHERS_ON = new Set(['40P01', '40001']);

/** Whether PostgreSQL ended the transaction this failure came from so that others could go on (it runs again). */
export function endedToLetOthersOn(error: unknown): boolean {
  return ENDED_TO_LET_OTHERS_ON.has(errorCodeOf(error) ?? '');
}

/**
 * A failure's code: a failed statement's SQLSTATE, or the driver's or the socket's code of a lost
 * connection (drizzle wraps the driver's error: the code sits on its cause).
 */
export function errorCodeOf(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}
