/**
 * postgres.js 3.4.9's writes, as patches/postgres+3.4.9.patch changes them (issue 15): whatever a
 * connection is given in one turn of the event loop goes to the server in one write. Upstream wrote at
 * once whenever 1 KB had gathered, so a connection carrying many statements at once (the API's sign-in
 * connection) made a system call, and woke the server, for every few of them.
 * The driver is given a socket whose writes are counted (its `socket` option).
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Database } from '../../db/client';
import { postgresConnection } from '../../db/connection-url';
import { createTestDatabase } from '../support/database';

let database: Database & { url: string };

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

/** A driver on one connection, as the product connects (postgresConnection), and how many writes its socket was given. */
function countingDriver() {
  const { url, path } = postgresConnection(database.url);
  const { hostname, port } = new URL(url);
  const counted = { writes: 0 };
  // `socket` is read by the driver (connection.js, createSocket) though its types do not name it; an
  // object passed by name is not held to the type's known keys.
  const options = {
    max: 1,
    onnotice: () => {},
    socket: async () => {
      const socket = path ? connect(path) : connect(Number(port), hostname);
      await once(socket, 'connect');
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      socket.write = ((...args: unknown[]) => {
        counted.writes++;
        return write(...args);
      }) as typeof socket.write;
      return socket;
    },
  };
  return { sql: postgres(url, options), counted };
}

it('sends the statements given in one turn in one write, each answered as its own', async () => {
  const { sql, counted } = countingDriver();
  try {
    const padding = 'x'.repeat(200);
    const statement = (n: number) => sql`select ${n}::int as n, length(${padding}::text) as padded`;
    // The statement prepared (its first run waits for the server's description of it).
    await statement(0);
    counted.writes = 0;
    // Fifty statements of about 250 bytes each: upstream wrote them in ten writes, one whenever 1 KB
    // had gathered.
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => statement(i)));
    expect(answers.map((rows) => rows[0])).toEqual(
      Array.from({ length: 50 }, (_, i) => ({ n: i, padded: padding.length })),
    );
    expect(counted.writes).toBe(1);
  } finally {
    await sql.end();
  }
});

it('writes a statement given alone in a turn of its own', async () => {
  const { sql, counted } = countingDriver();
  try {
    const statement = (n: number) => sql`select ${n}::int as n`;
    await statement(-1);
    counted.writes = 0;
    for (let i = 0; i < 5; i++) expect(await statement(i)).toEqual([{ n: i }]);
    expect(counted.writes).toBe(5);
  } finally {
    await sql.end();
  }
});
