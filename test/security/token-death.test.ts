import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../api/auth/passwords';
import { heldTransaction, untilAnsweredOrWaiting } from '../support/lock-waits';
import { linkIn } from '../support/people';
import { type AccountsSecurity, startAccountsSecurity } from './accounts-harness';

/** A5: a token dies at logout, and every token of a profile dies when its password is reset or changed. */
let s: AccountsSecurity;
beforeAll(async () => {
  s = await startAccountsSecurity();
});
afterAll(async () => {
  await s?.close();
});

const PASSWORD = 'correct horse battery';
const login = async (email: string, password = PASSWORD) => {
  const res = await s.http('POST', '/auth/login', { body: { email, password } });
  expect(res.status).toBe(200);
  return res.body.token as string;
};
const me = async (token: string) => (await s.http('GET', '/me', { token })).status;

describe('token death', () => {
  it('logout ends that token only; a second logout with it is 401', async () => {
    const person = await s.sys.signIn();
    const other = await login(person.email);
    expect((await s.http('POST', '/auth/logout', { token: person.token })).status).toBe(204);
    expect(await me(person.token)).toBe(401);
    expect((await s.http('PATCH', '/me', { token: person.token, body: { name: 'X' } })).status).toBe(401);
    expect((await s.http('POST', '/auth/logout', { token: person.token })).status).toBe(401);
    expect(await me(other)).toBe(200);
    expect((await s.http('POST', '/auth/logout')).status).toBe(401);
  });

  it('a password reset ends every token of the profile, read and write alike, and no other profile’s', async () => {
    const person = await s.sys.signIn();
    const bystander = await s.sys.signIn();
    const tokens = [person.token, await login(person.email), await login(person.email)];
    expect((await s.http('POST', '/auth/password-reset', { body: { email: person.email } })).status).toBe(
      202,
    );
    const link = await linkIn(s.sys, person.email, '/auth/password-reset/');
    expect((await s.http('POST', link, { body: { password: 'a brand new password' } })).status).toBe(204);
    for (const token of tokens) {
      expect(await me(token)).toBe(401);
      expect((await s.http('POST', '/sites', { token, body: { name: 'After reset' } })).status).toBe(401);
    }
    expect(await me(bystander.token)).toBe(200);
    expect(await me(await login(person.email, 'a brand new password'))).toBe(200);
  });

  it('a password change ends every other token and returns one that works', async () => {
    const person = await s.sys.signIn();
    const second = await login(person.email);
    const changed = await s.http('POST', '/me/password', {
      token: person.token,
      body: { currentPassword: PASSWORD, newPassword: 'another good password' },
    });
    expect(changed.status).toBe(200);
    const fresh = changed.body.token as string;
    expect(await me(person.token)).toBe(401);
    expect(await me(second)).toBe(401);
    expect(await me(fresh)).toBe(200);
    expect(
      (await s.http('POST', '/auth/login', { body: { email: person.email, password: PASSWORD } })).status,
    ).toBe(401);
    expect(await me(await login(person.email, 'another good password'))).toBe(200);
  });

  it('a wrong current password changes nothing and ends nothing; a short new one is named', async () => {
    const person = await s.sys.signIn();
    const wrong = await s.http('POST', '/me/password', {
      token: person.token,
      body: { currentPassword: 'not my password', newPassword: 'another good password' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe('invalid_credentials');
    const short = await s.http('POST', '/me/password', {
      token: person.token,
      body: { currentPassword: PASSWORD, newPassword: 'short' },
    });
    expect(short.status).toBe(400);
    expect(short.body.errors?.map((e) => e.path)).toEqual(['body.newPassword']);
    expect(await me(person.token)).toBe(200);
    expect(await me(await login(person.email))).toBe(200);
  });

  it('a deleted session row, an altered token and an expired session all answer 401', async () => {
    const person = await s.sys.signIn();
    const altered = `${person.token.slice(0, -1)}${person.token.endsWith('A') ? 'B' : 'A'}`;
    expect(await me(altered)).toBe(401);
    const token = await login(person.email);
    // Expired at this very instant, in the product's clock's unit: the API reads the time in whole
    // milliseconds, so PostgreSQL's microseconds would leave the session alive for the rest of the one
    // it was written in (CI of 28b00e9 met that once).
    await s.sys.sql`update sessions set expires_at = date_trunc('milliseconds', now())
      where profile_id = ${person.id}`;
    expect(await me(token)).toBe(401);
    expect(await me(person.token)).toBe(401);
  });
});

/**
 * A reset's writes (the new password, every session ended), held uncommitted until `commit`: what a
 * reset looks like to a request that read the profile a moment before it committed.
 */
async function heldReset(profileId: string, newPassword: string) {
  const next = await hashPassword(newPassword);
  return heldTransaction(s.sys.sql, async (tx) => {
    await tx`update profiles set password_hash = ${next} where id = ${profileId}`;
    await tx`delete from sessions where profile_id = ${profileId}`;
  });
}

describe('token death against a reset or change in flight (A5)', () => {
  it('a login that checked the old password while a reset was committing gets no token', async () => {
    const person = await s.sys.signIn();
    const reset = await heldReset(person.id, 'a brand new password');
    const answer = s.http('POST', '/auth/login', { body: { email: person.email, password: PASSWORD } });
    await untilAnsweredOrWaiting(s.sys.sql, answer);
    await reset.commit();
    const a = await answer;
    expect(a.status).toBe(401);
    expect(a.body.code).toBe('invalid_credentials');
    expect(await s.sys.sql`select 1 from sessions where profile_id = ${person.id}`).toHaveLength(0);
    expect(await me(await login(person.email, 'a brand new password'))).toBe(200);
  });

  it('a change that checked the old password while a reset was committing changes nothing', async () => {
    const person = await s.sys.signIn();
    const reset = await heldReset(person.id, 'a brand new password');
    const answer = s.http('POST', '/me/password', {
      token: person.token,
      body: { currentPassword: PASSWORD, newPassword: 'the thief’s own password' },
    });
    await untilAnsweredOrWaiting(s.sys.sql, answer);
    await reset.commit();
    const a = await answer;
    expect(a.status).toBe(401);
    expect(a.body.errors?.map((e) => e.path)).toEqual(['body.currentPassword']);
    const thief = await s.http('POST', '/auth/login', {
      body: { email: person.email, password: 'the thief’s own password' },
    });
    expect(thief.status).toBe(401);
    expect(await me(await login(person.email, 'a brand new password'))).toBe(200);
  });

  it('logins, a change and a reset at once, in generated orders: no token outlives its password', async () => {
    const RESET = 'the reset’s new password';
    const CHANGED = 'the change’s new password';
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('login', 'change', 'reset'), { minLength: 2, maxLength: 5 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 5, maxLength: 5 }),
        async (ops, delays) => {
          // Each run from an address of its own: the runs' logins together would pass the address's limit.
          runs++;
          const from = `10.77.${runs >> 8}.${runs & 255}`;
          const person = await s.sys.signIn();
          let link: string | undefined;
          if (ops.includes('reset')) {
            await s.http('POST', '/auth/password-reset', { body: { email: person.email }, from });
            link = await linkIn(s.sys, person.email, '/auth/password-reset/');
          }
          const issued = await Promise.all(
            ops.map(async (op, i) => {
              await new Promise((r) => setTimeout(r, delays[i] ?? 0));
              if (op === 'login') {
                const a = await s.http('POST', '/auth/login', {
                  body: { email: person.email, password: PASSWORD },
                  from,
                });
                return {
                  op,
                  status: a.status,
                  password: PASSWORD,
                  token: a.body.token as string | undefined,
                };
              }
              if (op === 'change') {
                const a = await s.http('POST', '/me/password', {
                  token: person.token,
                  body: { currentPassword: PASSWORD, newPassword: CHANGED },
                  from,
                });
                return { op, status: a.status, password: CHANGED, token: a.body.token as string | undefined };
              }
              const a = await s.http('POST', link!, { body: { password: RESET }, from });
              return { op, status: a.status, password: RESET, token: undefined };
            }),
          );
          expect(issued.every((x) => x.status < 500)).toBe(true);
          // The password the profile ends with: the one that logs in.
          let final: string | undefined;
          for (const candidate of [PASSWORD, CHANGED, RESET]) {
            const a = await s.http('POST', '/auth/login', {
              body: { email: person.email, password: candidate },
              from,
            });
            if (a.status === 200) final = candidate;
          }
          expect(final).toBeDefined();
          for (const x of issued.filter((y) => y.token !== undefined)) {
            if (x.password !== final) expect(await me(x.token!), `${x.op} token after ${ops}`).toBe(401);
          }
          // Only one change can have been made with the first password.
          expect(issued.filter((x) => x.op === 'change' && x.status === 200).length).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 12 },
    );
  });
});
