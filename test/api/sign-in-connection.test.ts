import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AccountsSecurity, startAccountsSecurity } from '../security/accounts-harness';
import { addIq, createSite, giveAccess } from '../support/fixtures';
import { activate } from '../support/people';

/**
 * AppDeps.signInDb: the sign-in statements of bounded reads share one connection, so each waits for
 * those sent before it. Only they go there, and none of them waits on a row lock: a transaction
 * holding the rows they read, or a write waiting on the pool, holds up no one's sign-in.
 */
let s: AccountsSecurity;
const onPool: string[] = [];
const onSignIn: string[] = [];
beforeAll(async () => {
  s = await startAccountsSecurity({
    onQuery: (statement) => onPool.push(statement),
    onSignInQuery: (statement) => onSignIn.push(statement),
  });
});
afterAll(async () => {
  await s?.close();
});

/** The sign-in statement reads the session by its token's hash. */
const isSignIn = (statement: string) => /"sessions"\."token_hash"\s*=/.test(statement);

async function siteWithLock() {
  const owner = await s.sys.signIn();
  const site = await createSite(s.sys, owner.id);
  const { lock } = await addIq(s.sys, site.id);
  await giveAccess(s.sys, site.id, owner.id);
  return { owner, site, lock };
}

describe('the sign-in connection', () => {
  it('takes the sign-in statements of bounded reads, the pool those of reads that grow with the data', async () => {
    const { owner, site, lock } = await siteWithLock();
    await activate(s.sys, owner.token, site.id);
    const cases: Array<[method: string, path: string, status: number, where: 'sign-in' | 'pool']> = [
      ['GET', '/sites', 200, 'sign-in'],
      ['GET', `/sites/${site.id}`, 200, 'sign-in'],
      ['GET', `/sites/${site.id}/locks`, 200, 'sign-in'],
      ['GET', `/sites/${site.id}/events?limit=200`, 200, 'sign-in'],
      // Refused (no gateway holds the IQ: 409 iq_offline), and recorded as an event on the pool.
      ['POST', `/sites/${site.id}/locks/${lock.id}/open`, 409, 'sign-in'],
      ['GET', '/me', 200, 'pool'],
      ['GET', `/sites/${site.id}/people`, 200, 'pool'],
      ['GET', `/sites/${site.id}/subscription`, 200, 'pool'],
    ];
    for (const [method, path, status, where] of cases) {
      onPool.length = 0;
      onSignIn.length = 0;
      const answer = await s.http(method, path, { token: owner.token });
      expect(answer.status, `${method} ${path}`).toBe(status);
      const signIns = { 'sign-in': onSignIn.filter(isSignIn).length, pool: onPool.filter(isSignIn).length };
      expect(signIns, `${method} ${path}`).toEqual(
        where === 'sign-in' ? { 'sign-in': 1, pool: 0 } : { 'sign-in': 0, pool: 1 },
      );
      if (method === 'POST')
        expect(onPool.some((statement) => /^insert into "events"/.test(statement))).toBe(true);
    }
  });

  it('sees nothing but sign-in reads, of every request with a bearer token', async () => {
    const { owner, site, lock } = await siteWithLock();
    onSignIn.length = 0;
    await s.http('PATCH', '/me', {
      token: owner.token,
      body: { name: 'Renamed' },
    });
    await s.http('POST', `/sites/${site.id}/locks`, {
      token: owner.token,
      body: { iqId: lock.iqId, name: 'Gate' },
    });
    // Well-formed, of no session.
    await s.http('GET', '/sites', { token: randomBytes(32).toString('base64url') });
    expect(onSignIn.length).toBe(3);
    for (const statement of onSignIn) {
      expect(statement.trim()).toMatch(/^select /i);
      expect(isSignIn(statement)).toBe(true);
      expect(statement).not.toMatch(/\bfor (update|share|no key update|key share)\b/i);
    }
  });

  it('answers sign-ins while a transaction holds their rows and a write waits for it on the pool', async () => {
    const { owner, site, lock } = await siteWithLock();
    const holder = await s.sys.sql.reserve();
    try {
      await holder`begin`;
      await holder`select 1 from profiles where id = ${owner.id} for update`;
      await holder`select 1 from sessions where profile_id = ${owner.id} for update`;
      await holder`select 1 from sites where id = ${site.id} for update`;
      await holder`select 1 from memberships where site_id = ${site.id} for update`;
      await holder`select 1 from locks where id = ${lock.id} for update`;
      await holder`select 1 from iqs where id = ${lock.iqId} for update`;

      // Refused for want of a subscription: its event's insert checks the site's key and waits.
      let openingSettled = false;
      const opening = s.http('POST', `/sites/${site.id}/locks/${lock.id}/open`, { token: owner.token });
      void opening.then(() => (openingSettled = true));
      await vi.waitFor(
        async () => {
          const [row] = await s.sys.sql`
            select count(*)::int as waiting from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock' and query ilike 'insert into "events"%'`;
          expect(row!.waiting).toBe(1);
        },
        { timeout: 10_000, interval: 20 },
      );

      const burst = await withinSeconds(
        10,
        Promise.all(
          Array.from({ length: 24 }, (_, i) =>
            s.http('GET', [`/sites/${site.id}`, `/sites/${site.id}/locks`, '/sites'][i % 3]!, {
              token: owner.token,
            }),
          ),
        ),
      );
      expect(burst.map((answer) => answer.status)).toEqual(burst.map(() => 200));
      expect(openingSettled).toBe(false);

      await holder`commit`;
      const answer = await opening;
      expect(answer.status).toBe(403);
      expect(answer.body.code).toBe('no_valid_subscription');
      const [row] = await s.sys.sql`
        select count(*)::int as refused from events where site_id = ${site.id} and type = 'lock.open_refused'`;
      expect(row!.refused).toBe(1);
    } finally {
      await holder`rollback`.catch(() => {});
      holder.release();
    }
  });
});

/** The promise's value, or a failure naming what held it up, after `seconds`. */
async function withinSeconds<T>(seconds: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not answered within ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
