import postgres from 'postgres';

/**
 * A postgres:// URL as postgres.js connects to it, with libpq's `host` query parameter honoured
 * (`postgres://user:pw@127.0.0.1:5432/db?host=/var/run/postgresql`, as psql reads it): it overrides
 * the URL's host, and a directory there means the server's Unix-domain socket in it
 * (`<dir>/.s.PGSQL.<port>`). postgres.js reads neither from a URL: it would send `host` to the
 * server as a setting, which the server refuses. A same-host PostgreSQL costs less over its socket
 * than over TCP (issue 15, bench/postgres-socket: per short transaction, about 13 % less of the
 * server's CPU and 8 % less of the client's).
 */
export function postgresConnection(url: string): { url: string; path?: string } {
  const parsed = new URL(url);
  const host = parsed.searchParams.get('host');
  if (host === null) return { url };
  parsed.searchParams.delete('host');
  if (!host.startsWith('/')) {
    parsed.hostname = host;
    return { url: parsed.toString() };
  }
  return { url: parsed.toString(), path: `${host.replace(/\/+$/, '')}/.s.PGSQL.${parsed.port || '5432'}` };
}

/** postgres.js's client for `url`, libpq's `host` parameter honoured (postgresConnection). */
export function postgresAt(url: string, options: postgres.Options<Record<string, never>> = {}): postgres.Sql {
  const connection = postgresConnection(url);
  return postgres(connection.url, { ...options, ...(connection.path ? { path: connection.path } : {}) });
}

/** Longest path of a Unix-domain socket Linux and macOS accept (sun_path less its terminating NUL). */
export const MAX_SOCKET_PATH = 103;
