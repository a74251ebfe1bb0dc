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
