/**
 * postgres.js 3.4.9's transactions, as patches/postgres+3.4.9.patch changes them (issue 15):
 * - `sql.begin` sends the callback's first statements right behind BEGIN, on its connection, without
 *   waiting for BEGIN's answer: one round trip fewer for every transaction the product makes (the
 *   owner's notification choice went from four to three).
 * - BEGIN reserves its connection whenever it is written. Upstream the reservation was skipped when
 *   BEGIN was the query that filled a connection's pipeline, and other callers' queries then ran inside
 *   the transaction (porsager/postgres#1210).
 * A proxy between the driver and PostgreSQL holds PostgreSQL's answers back, so what the driver sends
 * before it has any answer is seen for what it is.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../db/client';
import { eventually } from '../gateway/helpers';
import { createTestDatabase } from '../support/database';

let database: Database & { url: string };
let tcpUrl: string;

beforeAll(async () => {
  database = await createTestDatabase();
  // The test server listens on 127.0.0.1 too; the proxy and the raw driver below reach it by TCP.
  const url = new URL(database.url);
  url.search = '';
  tcpUrl = url.toString();
  await database.sql`create table counter (id int primary key, n int not null)`;
});
afterAll(async () => {
  await database?.close();
});

/** A TCP proxy to the test server that can hold back the server's answers and records what clients send. */
async function answerHoldingProxy() {
  const target = new URL(tcpUrl);
  const state = { holding: false, sentWhileHolding: '', held: [] as Array<() => void> };
  const sockets: Socket[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.push(client, upstream);
    client.on('data', (chunk) => {
      if (state.holding) state.sentWhileHolding += chunk.toString('latin1');
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (state.holding) state.held.push(() => client.write(chunk));
      else client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const url = new URL(tcpUrl);
  url.host = `127.0.0.1:${port}`;
  return {
    url: url.toString(),
    hold() {
      state.holding = true;
      state.sentWhileHolding = '';
    },
    sentWhileHolding: () => state.sentWhileHolding,
    release() {
      state.holding = false;
      for (const write of state.held.splice(0)) write();
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/**
 * The driver straight, with a connection pipeline of `maxPipeline` queries beyond the running one
 * (postgres.js reads `max_pipeline`; its type declarations leave it out, hence the plain object).
 */
function rawDriver(max: number, maxPipeline: number) {
  const options = { max, max_pipeline: maxPipeline, onnotice: () => {} };
  return postgres(tcpUrl, options);
}

describe('sql.begin (patched postgres.js)', () => {
  it("sends the callback's first statement with BEGIN, before BEGIN's answer", async () => {
    const proxy = await answerHoldingProxy();
    const watched = connectDatabase(proxy.url, { max: 1 });
    try {
      await watched.db.execute(sql`select 1`); // the connection is open and idle
      proxy.hold();
      const done = watched.db.transaction(async (tx) => {
        const [row] = await tx.execute<{ marker: string }>(sql`select 'first statement' as marker`);
        return row!.marker;
      });
      // Upstream the statement is sent only once BEGIN's answer came, which the proxy holds back.
      await eventually(() => expect(proxy.sentWhileHolding()).toContain('first statement'), 2_000);
      const sentSoFar = proxy.sentWhileHolding();
      proxy.release();
      expect(await done).toBe('first statement');
      expect(sentSoFar.indexOf('begin')).toBeGreaterThanOrEqual(0);
      expect(sentSoFar.indexOf('begin')).toBeLessThan(sentSoFar.indexOf('first statement'));
      expect(sentSoFar).not.toContain('commit'); // the commit waits for the callback, which waits for its answer
    } finally {
      proxy.release();
      await watched.close();
      await proxy.close();
    }
  });

  it("runs no other caller's query inside a transaction whose BEGIN filled the pipeline", async () => {
    // One connection that takes one query beyond the running one: BEGIN, sent behind a running query,
    // fills it. Upstream the connection then went back to the pool unreserved (or begin failed).
    const raw = rawDriver(1, 1);
    try {
      await raw`select 1`;
      const running = raw`select pg_sleep(0.2)`.execute();
      const transaction = raw.begin(async (tx) => {
        await tx`update counter set n = n where id = -1`;
        const [row] = await tx<Array<{ xid: string }>>`select pg_current_xact_id()::text as xid`;
        await new Promise((r) => setTimeout(r, 100));
        return row!.xid;
      });
      await new Promise((r) => setImmediate(r));
      const outside = raw<
        Array<{ xid: string | null }>
      >`select pg_current_xact_id_if_assigned()::text as xid`;
      const [xid, [outsideRow]] = await Promise.all([transaction, outside, running]);
      expect(xid).toMatch(/^\d+$/);
      expect(outsideRow!.xid).toBeNull();
    } finally {
      await raw.end({ timeout: 5 });
    }
  });

  it('keeps each transaction to itself and its outcome, for any mix sent at once', async () => {
    type Outcome = { plain: string | null } | { xids: [string, string] };
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('commit', 'throw', 'sql error', 'plain'), { minLength: 1, maxLength: 24 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        async (ops, max, maxPipeline) => {
          const raw = rawDriver(max, maxPipeline);
          try {
            await raw`insert into counter values (1, 0) on conflict (id) do update set n = 0`;
            const runs = ops.map((kind): Promise<Outcome> => {
              if (kind === 'plain')
                return raw<Array<{ xid: string | null }>>`
                  select pg_current_xact_id_if_assigned()::text as xid`.then(([r]) => ({ plain: r!.xid }));
              return raw.begin(async (tx) => {
                await tx`update counter set n = n + 1 where id = 1`;
                const [a] = await tx<Array<{ xid: string }>>`select pg_current_xact_id()::text as xid`;
                if (kind === 'sql error') await tx`select 1 / 0`;
                if (kind === 'throw') throw new Error('refused in the callback');
                const [b] = await tx<Array<{ xid: string }>>`select pg_current_xact_id()::text as xid`;
                return { xids: [a!.xid, b!.xid] as [string, string] };
              });
            });
            const settled = await Promise.allSettled(runs);
            const xids: string[] = [];
            settled.forEach((s, i) => {
              expect(s.status).toBe(ops[i] === 'commit' || ops[i] === 'plain' ? 'fulfilled' : 'rejected');
              if (s.status !== 'fulfilled') return;
              if ('plain' in s.value) expect(s.value.plain).toBeNull();
              else {
                expect(s.value.xids[0]).toBe(s.value.xids[1]);
                xids.push(s.value.xids[0]);
              }
            });
            expect(new Set(xids).size).toBe(xids.length);
            const [row] = await raw<Array<{ n: number }>>`select n from counter where id = 1`;
            expect(row!.n).toBe(ops.filter((kind) => kind === 'commit').length);
          } finally {
            await raw.end({ timeout: 5 });
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('every copy the package ships (ESM, CommonJS, Cloudflare) carries the change', async () => {
    const installed = (path: string) => new URL(`../../node_modules/postgres/${path}`, import.meta.url);
    for (const copy of ['src', 'cjs/src', 'cf/src']) {
      expect(await readFile(installed(`${copy}/index.js`), 'utf8')).toContain(
        'await Promise.race([reserving, began])',
      );
      expect(await readFile(installed(`${copy}/connection.js`), 'utf8')).toContain(
        'return q.options.onexecute(connection), false',
      );
    }
  });
});
