/**
 * libpq's `host` query parameter in a postgres:// URL (db/connection-url.ts): a directory there is the
 * server's Unix-domain socket, a name overrides the URL's host, and neither reaches the server as a
 * setting. The embedded PostgreSQL's URL names its socket, so the product's processes on its host
 * connect through it (issue 15); the same URL without the parameter still connects over TCP.
 */
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { connectDatabase, type Database } from '../../db/client';
import { MAX_SOCKET_PATH, postgresAt, postgresConnection } from '../../db/connection-url';
import { startEmbeddedPostgres } from '../../infra/embedded-postgres';

describe('postgresConnection', () => {
  it('leaves a URL without `host` as it is', () => {
    const url = 'postgres://u:p@db.example:6432/app?sslmode=require';
    expect(postgresConnection(url)).toEqual({ url });
  });

  it('a directory in `host` is the socket in it, for the URL’s port (5432 when none)', () => {
    expect(postgresConnection('postgres://u:p@127.0.0.1:6543/app?host=%2Fvar%2Frun%2Fpg%2F')).toEqual({
      url: 'postgres://u:p@127.0.0.1:6543/app',
      path: '/var/run/pg/.s.PGSQL.6543',
    });
    expect(postgresConnection('postgres://u:p@localhost/app?host=/tmp&sslmode=disable')).toEqual({
      url: 'postgres://u:p@localhost/app?sslmode=disable',
      path: '/tmp/.s.PGSQL.5432',
    });
  });

  it('a name in `host` replaces the URL’s host', () => {
    expect(postgresConnection('postgres://u:p@127.0.0.1:5433/app?host=db.internal')).toEqual({
      url: 'postgres://u:p@db.internal:5433/app',
    });
  });
});

describe('the embedded PostgreSQL’s URL', () => {
  const opened: Database[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((d) => d.close()));
  });
  const serverAddress = async (url: string) => {
    const database = connectDatabase(url, { max: 1 });
    opened.push(database);
    const [row] = await database.sql`select inet_server_addr()::text as address`;
    return row?.address as string | null;
  };

  it('names the server’s socket, and connecting through it is not TCP', async () => {
    const url = inject('postgresUrl');
    const { path } = postgresConnection(url);
    expect(path).toMatch(/\/\.s\.PGSQL\.\d+$/);
    expect(path!.length).toBeLessThanOrEqual(MAX_SOCKET_PATH);
    // No server address: the connection came through a Unix-domain socket.
    expect(await serverAddress(url)).toBeNull();
  });

  it('the socket asks for the password as TCP does: a wrong one is refused', async () => {
    const wrong = new URL(inject('postgresUrl'));
    wrong.password = 'not-the-password';
    const sql = postgresAt(wrong.toString(), { max: 1, onnotice: () => {} });
    try {
      await expect(sql`select 1`).rejects.toThrow(/password authentication failed/);
    } finally {
      await sql.end();
    }
  });

  it('without `host`, the same server over TCP on 127.0.0.1', async () => {
    const tcp = new URL(inject('postgresUrl'));
    tcp.searchParams.delete('host');
    expect(await serverAddress(tcp.toString())).toBe('127.0.0.1/32');
  });

  it('a data directory too deep for a socket’s path: no socket, the URL is TCP’s and connects', async () => {
    const base = await mkdtemp(join(tmpdir(), 'ks-deep-'));
    try {
      // Embedded PostgreSQL runs as the postgres user when the tests run as root.
      await chmod(base, 0o755);
      const deep = join(base, 'd'.repeat(60), 'e'.repeat(60));
      await mkdir(deep, { recursive: true, mode: 0o755 });
      await chmod(join(base, 'd'.repeat(60)), 0o755);
      const pg = await startEmbeddedPostgres({ dataDir: join(deep, 'pg') });
      try {
        expect(new URL(pg.url).searchParams.has('host')).toBe(false);
        expect(await serverAddress(pg.url)).toBe('127.0.0.1/32');
      } finally {
        await Promise.all(opened.splice(0).map((d) => d.close()));
        await pg.stop();
      }
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  it('postgres.js alone would send `host` to the server, which refuses it', async () => {
    const { default: postgres } = await import('postgres');
    const raw = postgres(inject('postgresUrl'), { max: 1, onnotice: () => {} });
    try {
      await expect(raw`select 1`).rejects.toThrow(/host/);
    } finally {
      await raw.end();
    }
    const honoured = postgresAt(inject('postgresUrl'), { max: 1 });
    try {
      expect(await honoured`select 1 as one`).toEqual([{ one: 1 }]);
    } finally {
      await honoured.end();
    }
  });
});
