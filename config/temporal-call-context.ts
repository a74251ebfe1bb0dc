import type { AsyncLocalStorage } from 'node:async_hooks';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import type { Client, Connection } from '@temporalio/client';

/**
 * Issue 15. The Temporal client keeps each call's context (its namespace header, a deadline) in an
 * AsyncLocalStorage of its connection, and Node 20 turns its promise hooks on for the whole process
 * at a storage's first use and leaves them on: from the first call to Temporal, every promise of every
 * request in the process pays for them. The client reads the context as a call starts, in the same
 * synchronous step as it enters it; only a scope of our own spans awaits (`withTemporalDeadline`). So
 * the storages of the connections given to `quietWhenIdle` are turned off whenever no call and no such
 * scope is open, and the next call turns its own on again.
 */
const storages = new Set<AsyncLocalStorage<unknown>>();
let open = 0;

function opened() {
  open++;
}

function closed() {
  open--;
  if (open === 0) for (const storage of storages) storage.disable();
}

/** How many calls and scopes are open now (tests). */
export const openCallContexts = () => open;

/**
 * Counts a call from its start to its final status: first among a connection's interceptors, so the
 * retries' attempts inside it count as the one call.
 */
export const countCalls: Interceptor = (options, nextCall) => {
  opened();
  let ended = false;
  return new InterceptingCall(nextCall(options), {
    start(metadata, _listener, next) {
      next(metadata, {
        onReceiveStatus(status, nextStatus) {
          if (!ended) {
            ended = true;
            closed();
          }
          nextStatus(status);
        },
      });
    },
  });
};

/**
 * Turns the connection's call-context storage off whenever nothing is open. Refuses a connection
 * whose calls are not counted (countCalls first among its interceptors): its storage would be turned
 * off under its calls.
 */
export function quietWhenIdle(connection: Connection): void {
  if (connection.options.interceptors[0] !== countCalls) {
    throw new Error('quietWhenIdle: the connection does not count its calls (countCalls first)');
  }
  storages.add(connection.callContextStorage);
  // Connection.connect's own first call may have turned it on already.
  if (open === 0) connection.callContextStorage.disable();
}

/** The client's calls in `fn` end by `ms` from now; the scope keeps the storages on until it ends. */
export async function withTemporalDeadline<T>(client: Client, ms: number, fn: () => Promise<T>): Promise<T> {
  opened();
  try {
    return await client.withDeadline(Date.now() + ms, fn);
  } finally {
    closed();
  }
}
