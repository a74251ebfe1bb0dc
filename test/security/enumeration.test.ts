import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccountsSecurity, type Answer, startAccountsSecurity } from './accounts-harness';

/**
 * A4: no answer tells whether an email has a profile: not its status, its body, nor its timing.
 * Timing is compared by medians of interleaved requests; the figures are printed.
 */
let s: AccountsSecurity;
beforeAll(async () => {
  s = await startAccountsSecurity();
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
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(send: () => Promise<Answer>) {
  const t0 = performance.now();
  const answer = await send();
  return { answer, ms: performance.now() - t0 };
}

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

  it('timing: medians of existing and unknown emails for reset and sign-up are alike (printed)', async () => {
    const ROUNDS = 8;
    const existing = await Promise.all(Array.from({ length: ROUNDS }, () => s.sys.signIn()));
    const figures: Record<string, { existing: number; unknown: number }> = {};
    for (const [name, send] of [
      [
        'reset',
        (email: string, i: number) =>
          s.http('POST', '/auth/password-reset', { body: { email }, from: `198.51.100.${i}` }),
      ],
      [
        'signup',
        (email: string, i: number) =>
          s.http('POST', '/auth/signup', {
            body: { email, password: 'long enough pw', name: 'T' },
            from: `198.51.100.${i}`,
          }),
      ],
    ] as const) {
      const known: number[] = [];
      const unknown: number[] = [];
      // Interleaved, so load on the machine falls on both alike.
      for (let i = 0; i < ROUNDS; i++) {
        const k = await timed(() => send(existing[i]!.email, i));
        const u = await timed(() => send(fresh(), i));
        expect(k.answer.status).toBe(u.answer.status);
        known.push(k.ms);
        unknown.push(u.ms);
      }
      figures[name] = { existing: median(known), unknown: median(unknown) };
    }
    console.log(
      `[enumeration] medians (ms): ${Object.entries(figures)
        .map(([n, f]) => `${n} existing ${f.existing.toFixed(1)} unknown ${f.unknown.toFixed(1)}`)
        .join('; ')}`,
    );
    // Before A4 was fixed, reset took 9 × longer for an existing email (24.7 vs 2.7 ms). The same
    // work is done now; a factor of 3 either way would still show a leak of that size.
    for (const f of Object.values(figures)) {
      expect(f.existing / f.unknown).toBeLessThan(3);
      expect(f.unknown / f.existing).toBeLessThan(3);
    }
  });
});
