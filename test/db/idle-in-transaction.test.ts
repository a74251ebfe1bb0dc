import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database, IDLE_IN_TRANSACTION_MS } from '../../db/client';
import { SEND_TIMEOUT_MS } from '../../emails/mailer';
import { createTestDatabase } from '../support/database';

/**
 * A process that falls silent inside a transaction (its host lost, a network partition) would hold
 * what the transaction locked until PostgreSQL noticed the connection was gone: with the operating
 * system's TCP keepalive, about two hours, while every change waiting for those rows waited too. Each
 * connection the product opens ends a transaction left idle longer than IDLE_IN_TRANSACTION_MS
 * (db/client.ts), which frees its locks; the test shortens it.
 */

const IDLE_MS = 500;
let database: Database & { url: string };
let silent: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  await database.sql`create table idle_probe (id int primary key, n int not null)`;
  await database.sql`insert into idle_probe values (1, 0)`;
  silent = connectDatabase(database.url, { max: 1, idleInTransactionMs: IDLE_MS });
});

afterAll(async () => {
  await silent?.close();
  await database?.close();
});

describe('a transaction whose process falls silent', () => {
  it('is ended by PostgreSQL after the idle limit, and a change waiting for its row goes through', async () => {
    let holding!: () => void;
    const held = new Promise<void>((resolve) => {
      holding = resolve;
    });
    const SILENT_MS = 6_000;
    // Locks the row, then sends nothing for far longer than the limit.
    const holder = silent.sql
      .begin(async (tx) => {
        await tx`select n from idle_probe where id = 1 for update`;
        holding();
        await new Promise((resolve) => setTimeout(resolve, SILENT_MS));
        await tx`update idle_probe set n = n + 100 where id = 1`;
      })
      .then(
        () => 'committed',
        (error: { code?: string }) => error.code,
      );
    await held;
    const started = performance.now();
    await database.sql`update idle_probe set n = n + 1 where id = 1`;
    const waitedMs = performance.now() - started;

    // The waiter did not wait for the silent process to come back, whose session PostgreSQL ended
    // (postgres.js reports the connection closed): its transaction committed nothing.
    expect(waitedMs).toBeLessThan(SILENT_MS / 2);
    expect(['25P03', 'CONNECTION_CLOSED']).toContain(await holder);
    expect(await database.sql`select n from idle_probe where id = 1`).toEqual([{ n: 1 }]);
  });

  it('leaves the longest wait the product makes inside a transaction, an email’s send, several times over', () => {
    // Invitations, PIN resets and the relays wait for the provider (or Temporal, 5 s) between statements.
    expect(IDLE_IN_TRANSACTION_MS).toBeGreaterThanOrEqual(3 * SEND_TIMEOUT_MS);
  });
});
