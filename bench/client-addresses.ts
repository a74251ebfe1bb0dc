/**
 * A distinct private address per load client, as the trusted proxy (TRUSTED_PROXIES 127.0.0.1) names
 * it in X-Forwarded-For: per-address throttles (A6) then count each client apart, as they would
 * count clients on the Internet, not the whole load as one address.
 */
export const clientAddress = (client: number) =>
  `10.${(client >> 16) & 255}.${(client >> 8) & 255}.${client & 255}`;
