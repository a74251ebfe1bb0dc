import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccountsSecurity, type Answer, startAccountsSecurity } from './accounts-harness';

/**
 * A4: no answer tells whether an email has a profile: not its status, its body, nor its timing.
 * Timing: the request path's SQL is compared statement by statement; bench/enumeration.ts prints
 * the medians.
 */
let s: AccountsSecurity;
/** The statements the API sends while a test records them. */
let recording: string[] | undefined;
beforeAll(async () => {
  s = await startAccountsSecurity({ onQuery: (statement) => recording?.push(statement) });
});
afterAll(async () => {
  await s?.close();
});

const fresh = () => `enum-${randomUUID()}@example.test`;
/** What may differ between two answers: nothing but the request id and date. */
const visible = (a: Answer) => ({
  status: a.status,
  text: a.text,
  headers: [...a.headers].filter(([k]) => !['date', 'x-request-id', 'content-length'].includes(k)),
});

describe('account enumeration', () => {
  it('sign-up of a taken email answers exactly like a new one, and only emails', async () => {
    const taken = (await s.sys.signIn()).email;
    const newcomer = fresh();
    const body = (email: string) => ({ email, password: 'long enough pw', name: 'Prober' });
    const a = await s.http('POST', '/auth/signup', { body: body(taken), from: '203.0.113.1' });
    const b = await s.http('POST', '/auth/signup', { body: body(newcomer), from: '203.0.113.1' });
    expect(visible(a)).toEqual(visible(b));
    expect(a.body).toEqual({ status: 'check_email' });
    const mail = await s.sys.mailbox();
    expect(mail.filter((m) => m.to === taken).map((m) => m.template)).toEqual(['account-exists']);
    expect(mail.filter((m) => m.to === newcomer).map((m) => m.template)).toEqual(['confirm-email']);
    // The taken profile is unchanged: its name and its password.
    const [row] = await s.sys.sql`select name from profiles where email = ${taken}`;
    expect(row?.name).toBe('Test Person');
  });

  it('password reset answers alike for known, unknown, unconfirmed and differently written emails', async () => {
    const known = (await s.sys.signIn()).email;
    const answers = await Promise.all(
      [known, fresh(), ` ${known.toUpperCase()} `, 'not-even-an-email'].map((email) =>
        s.http('POST', '/auth/password-reset', { body: { email }, from: '203.0.113.2' }),
      ),
    );
    for (const a of answers) expect(visible(a)).toEqual(visible(answers[0]!));
    expect(answers[0]!.status).toBe(202);
  });

  it('login: a wrong password and an unknown email answer alike', async () => {
    const known = (await s.sys.signIn()).email;
    const a = await s.http('POST', '/auth/login', {
      body: { email: known, password: 'wrong one' },
      from: '203.0.113.3',
    });
    const b = await s.http('POST', '/auth/login', {
      body: { email: fresh(), password: 'wrong one' },
      from: '203.0.113.3',
    });
    expect(visible(a)).toEqual(visible(b));
    expect(a.status).toBe(401);
  });

  it('a login after one’s own sign-up answers alike for a taken and a new email, and forgives no failure', async () => {
    const taken = await s.sys.signIn();
    const newcomer = fresh();
    const password = 'the prober’s own';
    const answers: Answer[] = [];
    for (const email of [taken.email, newcomer]) {
      await s.http('POST', '/auth/signup', {
        body: { email, password, name: 'Prober' },
        from: '203.0.113.4',
      });
      answers.push(await s.http('POST', '/auth/login', { body: { email, password }, from: '203.0.113.5' }));
      answers.push(
        await s.http('POST', '/auth/login', { body: { email, password: 'another' }, from: '203.0.113.5' }),
      );
    }
    const [takenRight, takenWrong, newRight, newWrong] = answers.map(visible);
    expect(takenRight).toEqual(newRight);
    expect(takenWrong).toEqual(newWrong);
    expect([takenRight?.status, takenWrong?.status]).toEqual([403, 401]);
    expect(answers[0]?.body.code).toBe('email_not_confirmed');
    // The taken account is untouched: its owner signs in with their own password, not the prober's.
    const ownLogin = (from: string) =>
      s.http('POST', '/auth/login', {
        body: { email: taken.email, password: 'correct horse battery' },
        from,
      });
    expect((await ownLogin('203.0.113.6')).status).toBe(200);
    // The sign-up's password is no right password: it forgives none of the guesses between (A6), so
    // the tenth try from one address locks the account there as ten guesses would.
    for (let i = 0; i < 10; i++) {
      const guess = i % 2 === 0 ? `guess ${i}` : password;
      await s.http('POST', '/auth/login', {
        body: { email: taken.email, password: guess },
        from: '192.0.2.1',
      });
    }
    expect((await ownLogin('192.0.2.1')).status).toBe(429);
  });

  it('timing: reset, sign-up and login send the same SQL, in the same order, for a known and an unknown email', async () => {
    // A4's timing clause held by what can be counted: the request path does the same database work
    // (and as many password checks: test/unit/login.test.ts) whether or not the email has a profile.
    // The medians themselves are a benchmark's: bench/enumeration.ts.
    const known = (await s.sys.signIn()).email;
    const requests = [
      ['reset', (email: string) => ({ path: '/auth/password-reset', body: { email } })],
      [
        'signup',
        (email: string) => ({ path: '/auth/signup', body: { email, password: 'long enough pw', name: 'T' } }),
      ],
      ['login', (email: string) => ({ path: '/auth/login', body: { email, password: 'wrong one' } })],
    ] as const;
    for (const [name, request] of requests) {
      const sent: Record<'known' | 'unknown', { status: number; statements: string[] }> = {
        known: { status: 0, statements: [] },
        unknown: { status: 0, statements: [] },
      };
      for (const [who, email] of [
        ['known', known],
        ['unknown', fresh()],
      ] as const) {
        const { path, body } = request(email);
        const statements: string[] = [];
        recording = statements;
        const answer = await s.http('POST', path, { body, from: `198.51.100.${name.length}` });
        sent[who] = { status: answer.status, statements };
        recording = undefined;
      }
      expect(sent.known.status, name).toBe(sent.unknown.status);
      expect(sent.known.statements.length, name).toBeGreaterThan(0);
      expect(sent.known.statements, name).toEqual(sent.unknown.statements);
    }
  });
});
