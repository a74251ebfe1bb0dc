/**
 * db/client.ts: drizzle's queries become statements postgres.js prepares once per connection and
 * then only binds and executes (issue 15), in transactions too; statements with many parameters stay
 * unnamed so a connection keeps a bounded set. Read back from PostgreSQL's own view of the session.
 */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../db/client';
import { rawStatement } from '../../db/prepared';
import { profiles } from '../../db/schema';
import { createTestDatabase } from '../support/database';

let database: Database;

beforeAll(async () => {
  const template = await createTestDatabase();
  await template.close();
  // One connection: pg_prepared_statements shows the statements of the session that reads it.
  database = connectDatabase(template.url, { max: 1 });
});
afterAll(async () => {
  await database?.close();
});

/** The session's prepared statements whose text holds `marker`, with how often each ran. */
async function prepared(marker: string) {
  const rows = await database.db.execute<{ statement: string; runs: number }>(sql`
    select statement, (generic_plans + custom_plans)::int as runs from pg_prepared_statements
    where statement like ${`%${marker}%`} and statement not like '%pg_prepared_statements%'`);
  return [...rows];
}

describe('prepared statements (db/client.ts)', () => {
  it('prepares a parameterized query once and runs it again by name', async () => {
    const byEmail = (email: string) =>
      database.db.select({ id: profiles.id }).from(profiles).where(eq(profiles.email, email));
    for (const email of ['a@prep.test', 'b@prep.test', 'c@prep.test'])
      expect(await byEmail(email)).toEqual([]);
    const found = await prepared('"email" = $1');
    expect(found).toHaveLength(1);
    expect(found[0]!.runs).toBe(3);
  });

  it('does the same inside a transaction', async () => {
    for (let i = 0; i < 2; i++) {
      await database.db.transaction(async (tx) => {
        await tx
          .select({ n: sql<number>`count(*)::int` })
          .from(profiles)
          .where(eq(profiles.name, `tx ${i}`));
      });
    }
    const found = await prepared('"name" = $1');
    expect(found).toHaveLength(1);
    expect(found[0]!.runs).toBe(2);
  });

  it('leaves a statement with many parameters unnamed', async () => {
    const rows = Array.from({ length: 12 }, (_, i) => ({
      email: `bulk${i}@prep.test`,
      name: `Bulk ${i}`,
      passwordHash: 'x',
    }));
    await database.db.insert(profiles).values(rows);
    await database.db.insert(profiles).values(rows.map((r) => ({ ...r, email: `again-${r.email}` })));
    expect(await prepared('insert into "profiles"')).toEqual([]);
    // A small insert is prepared like any other statement.
    await database.db.insert(profiles).values({ ...rows[0]!, email: 'one@prep.test' });
    expect(await prepared('insert into "profiles"')).toHaveLength(1);
  });
});

describe('raw statements built once (db/prepared.ts rawStatement)', () => {
  it('builds its text once, binds each run its values, and runs on the handle it is given', async () => {
    let builds = 0;
    const named = rawStatement<{ email: string; name: string }, { name: string }>((v) => {
      builds++;
      return sql`select name from profiles where email = ${v('email')} or name = ${v('name')} /* raw-once */`;
    });
    await database.db.insert(profiles).values({ email: 'raw@prep.test', name: 'Raw', passwordHash: 'x' });
    expect(await named(database.db, { email: 'raw@prep.test', name: 'nobody' })).toEqual([{ name: 'Raw' }]);
    expect(await named(database.db, { email: 'nobody@prep.test', name: 'Raw' })).toEqual([{ name: 'Raw' }]);
    // In a transaction it runs on the transaction's connection: it sees the row not yet committed.
    await database.db
      .transaction(async (tx) => {
        await tx
          .insert(profiles)
          .values({ email: 'uncommitted@prep.test', name: 'Later', passwordHash: 'x' });
        expect(await named(tx, { email: 'uncommitted@prep.test', name: 'nobody' })).toEqual([
          { name: 'Later' },
        ]);
        tx.rollback();
      })
      .catch(() => {});
    expect(await named(database.db, { email: 'uncommitted@prep.test', name: 'nobody' })).toEqual([]);
    expect(builds).toBe(1);
    // One prepared statement, run by name each time.
    expect(await prepared('raw-once')).toEqual([{ statement: expect.stringContaining('$2'), runs: 4 }]);
  });

  it('refuses a run without one of its values before anything is sent', async () => {
    const statement = rawStatement<{ id: string }>(
      (v) => sql`select ${v('id')}::uuid as id /* raw-missing */`,
    );
    await expect(statement(database.db, {} as { id: string })).rejects.toThrow(
      'No value for placeholder "id"',
    );
    expect(await prepared('raw-missing')).toEqual([]);
  });
});
