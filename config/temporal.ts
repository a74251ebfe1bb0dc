import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import {
  Client,
  Connection,
  type ConnectionOptions,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
} from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { countCalls, quietWhenIdle } from './temporal-call-context';

export interface TemporalTarget {
  address: string;
  namespace: string;
  connectionOptions: ReturnType<typeof loadClientConnectConfig>['connectionOptions'];
}

/**
 * Temporal's connection settings in Temporal's own conventions: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS_*, or a profile of temporal.toml (TEMPORAL_PROFILE,
 * TEMPORAL_CONFIG_FILE). Defaults to a local development server. An empty variable counts as unset,
 * as in config/env.ts (compose passes `${VAR:-}`): envconfig would read an empty TEMPORAL_ADDRESS as
 * the address and an empty TEMPORAL_TLS as "no TLS", overriding a profile.
 */
export function temporalTarget(env: Record<string, string | undefined> = process.env): TemporalTarget {
  const overrideEnvVars = Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[1].trim() !== '',
    ),
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
 * Options of a connection whose calls are counted (config/temporal-call-context.ts), with
 * `interceptors` after the count (default: the SDK's own retries).
 */
function countedCalls(
  options: ConnectionOptions,
  interceptors: Interceptor[] = [makeGrpcRetryInterceptor(defaultGrpcRetryOptions())],
): ConnectionOptions {
  return { ...options, interceptors: [countCalls, ...interceptors] };
}

/**
 * A lazy connection (a process starts while Temporal is still coming up) whose call-context storage is
 * off while none of its calls is open.
 */
export function quietLazyConnection(options: ConnectionOptions, interceptors?: Interceptor[]): Connection {
  const connection = Connection.lazy(countedCalls(options, interceptors));
  quietWhenIdle(connection);
  return connection;
}

/** The worker's and the gateway's client, for their relays (each call's deadline is the relay's). */
export function temporalClient(target: TemporalTarget): Client {
  return new Client({
    connection: quietLazyConnection(target.connectionOptions),
    namespace: target.namespace,
  });
}

/**
 * The API's Temporal client. Lazy: the API starts (and /health says what is missing) even while
 * Temporal is still coming up. Four attempts (about a second) instead of the SDK's ten (about 20 s),
 * each within the call's one deadline: while Temporal is away or silent, a request is answered 503
 * with Retry-After soon, rather than held open.
 */
export function apiTemporalClient(target: TemporalTarget, opts: { deadlineMs?: number } = {}): Client {
  // The deadline's interceptor comes first after the count: every attempt of the retries shares it.
  const connection = quietLazyConnection(target.connectionOptions, [
    deadlineOf(opts.deadlineMs ?? API_TEMPORAL_DEADLINE_MS),
    makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 4 })),
  ]);
  return new Client({ connection, namespace: target.namespace });
}
