import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';

export interface TemporalTarget {
  address: string;
  namespace: string;
  connectionOptions: ReturnType<typeof loadClientConnectConfig>['connectionOptions'];
}

/**
 * Temporal's connection settings in Temporal's own conventions: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS_*, or a profile of temporal.toml (TEMPORAL_PROFILE,
 * TEMPORAL_CONFIG_FILE). Defaults to a local development server.
 */
export function temporalTarget(env: Record<string, string | undefined> = process.env): TemporalTarget {
  const overrideEnvVars = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars });
  const address = connectionOptions.address ?? 'localhost:7233';
  return { address, namespace: namespace ?? 'default', connectionOptions: { ...connectionOptions, address } };
}

/**
 * How long a call the API makes to Temporal waits for its answer. grpc-js sets no deadline of its own:
 * against a Temporal that takes the connection and never answers (a stuck frontend, a connection a
 * network fault left half-open) a call, its request and whatever that request holds would wait for as
 * long as the connection lived. The relays' hand-overs set their own, shorter ones.
 */
export const API_TEMPORAL_DEADLINE_MS = 10_000;

/** A grpc-js interceptor that gives a call without a deadline one `ms` after it starts. */
const deadlineOf =
  (ms: number): Interceptor =>
  (options, nextCall) =>
    new InterceptingCall(nextCall({ ...options, deadline: options.deadline ?? Date.now() + ms }));

/**
 * The API's Temporal client. Lazy: the API starts (and /health says what is missing) even while
 * Temporal is still coming up. Four attempts (about a second) instead of the SDK's ten (about 20 s),
 * each within the call's one deadline: while Temporal is away or silent, a request is answered 503
 * with Retry-After soon, rather than held open.
 */
export function apiTemporalClient(target: TemporalTarget, opts: { deadlineMs?: number } = {}): Client {
  const connection = Connection.lazy({
    ...target.connectionOptions,
    // The first is outermost: every attempt of the retries below shares the call's deadline.
    interceptors: [
      deadlineOf(opts.deadlineMs ?? API_TEMPORAL_DEADLINE_MS),
      makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 4 })),
    ],
  });
  return new Client({ connection, namespace: target.namespace });
}
