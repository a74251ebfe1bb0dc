import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BASE_URL } from '../support/system';
import { type AccountsSecurity, type Answer, startAccountsSecurity } from './accounts-harness';

/**
 * A1, A4 against a sign-up made ahead of the address's owner (pre-hijacking): an attacker signs the
 * owner's email up with a password of their own, and the owner, signing up later, confirms through the
 * mailbox. The newest sign-up of an unconfirmed email gets a link of its own and kills the older
 * ones; a link confirms only its own sign-up, with its name. An address signed up more than once keeps
 * no sign-up's password (the newest link may be an attacker's): whoever follows the link, the
 * mailbox's owner, chooses the password on a reset link the page gives. Before, the owner's sign-up got an "account exists" email, and the only link in the mailbox,
 * the attacker's, confirmed the attacker's password.
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

let net = 0;
/** A client address of its own for each request (TEST-NET-2), so no throttle is in the way. */
const address = () => `198.51.100.${++net}`;
const fresh = () => `prehijack-${randomUUID()}@example.test`;

const signUp = (email: string, password: string, name: string) =>
  s.http('POST', '/auth/signup', { body: { email, password, name }, from: address() });
const login = (email: string, password: string) =>
  s.http('POST', '/auth/login', { body: { email, password }, from: address() });

/** The confirmation links in the address's mailbox, oldest first. */
async function confirmLinks(email: string): Promise<string[]> {
  const mails = (await s.sys.mailbox()).filter((m) => m.to === email);
  const prefix = `${TEST_BASE_URL}/auth/confirm/`;
  return mails.flatMap((m) => {
    const at = m.text.indexOf(prefix);
    return at < 0 ? [] : [`/auth/confirm/${/^[A-Za-z0-9_-]+/.exec(m.text.slice(at + prefix.length))![0]}`];
  });
}

/** Follows the set-password link of a confirmation page (relative to the confirm link) and sets `password`. */
async function choosePassword(confirmLink: string, page: string, password: string) {
  const href = /href="([^"]*password-reset\/[^"]+)"/.exec(page)?.[1];
  expect(href).toBeDefined();
  const path = new URL(href!, `http://ks.test${confirmLink}`).pathname;
  expect((await s.http('POST', path, { body: { password } })).status).toBe(204);
}

async function templatesTo(email: string) {
  return (await s.sys.mailbox()).filter((m) => m.to === email).map((m) => m.template);
}

describe('a sign-up ahead of the owner', () => {
  it('the owner signs up after the attacker and follows the newest link: no sign-up’s password is kept, they choose theirs', async () => {
    const email = fresh();
    expect((await signUp(email, 'attacker-password', 'Mallory')).status).toBe(202);
    expect(await confirmLinks(email)).toHaveLength(1);
    expect((await signUp(email, 'victim-own-password', 'Victoria')).status).toBe(202);

    const links = await confirmLinks(email);
    expect(links.length).toBeGreaterThan(0);
    const confirmed = await s.http('POST', links.at(-1)!);
    expect(confirmed.status).toBe(200);
    expect((await login(email, 'victim-own-password')).status).toBe(401);
    expect((await login(email, 'attacker-password')).status).toBe(401);
    await choosePassword(links.at(-1)!, confirmed.text, 'victim-chosen-password');
    const own = await login(email, 'victim-chosen-password');
    expect(own.status).toBe(200);
    expect((own.body.profile as { name: string }).name).toBe('Victoria');
  });

  it('an attacker who signs up after the owner, whose link the owner follows, gets no password', async () => {
    const email = fresh();
    await signUp(email, 'victim-own-password', 'Victoria');
    await signUp(email, 'attacker-password', 'Mallory');
    const links = await confirmLinks(email);
    // The newest link in the owner's mailbox is the attacker's sign-up's.
    const confirmed = await s.http('POST', links.at(-1)!);
    expect(confirmed.status).toBe(200);
    expect((await login(email, 'attacker-password')).status).toBe(401);
    await choosePassword(links.at(-1)!, confirmed.text, 'victim-chosen-password');
    expect((await login(email, 'victim-chosen-password')).status).toBe(200);
    expect((await login(email, 'attacker-password')).status).toBe(401);
  });

  it('the attacker’s older link dies with the owner’s sign-up, and confirms nothing', async () => {
    const email = fresh();
    await signUp(email, 'attacker-password', 'Mallory');
    const [attackers] = await confirmLinks(email);
    await signUp(email, 'victim-own-password', 'Victoria');
    expect(await templatesTo(email)).toEqual(['confirm-email', 'confirm-email']);

    expect((await s.http('GET', attackers!)).status).toBe(410);
    expect((await s.http('POST', attackers!)).status).toBe(410);
    expect((await login(email, 'attacker-password')).status).toBe(401);
    expect((await login(email, 'victim-own-password')).body.code).toBe('email_not_confirmed');
  });

  it('a link confirms only its own sign-up’s password: an older one kept alive cannot confirm the newer', async () => {
    const email = fresh();
    await signUp(email, 'first-password', 'First');
    const [first] = await confirmLinks(email);
    await signUp(email, 'second-password', 'Second');
    const second = (await confirmLinks(email)).at(-1)!;
    // As if the older link had been stored after the newer sign-up killed the live ones (a race).
    await s.sys.sql`update email_tokens set used_at = null
      where profile_id = (select id from profiles where email = ${email})`;
    expect((await s.http('POST', first!)).status).toBe(410);
    expect((await login(email, 'first-password')).status).toBe(401);

    const confirmed = await s.http('POST', second);
    expect(confirmed.status).toBe(200);
    // Signed up twice: no sign-up's password is kept, whoever followed the link chooses one.
    expect((await login(email, 'second-password')).status).toBe(401);
    await choosePassword(second, confirmed.text, 'chosen-password');
    const signedIn = await login(email, 'chosen-password');
    expect(signedIn.status).toBe(200);
    expect((signedIn.body.profile as { name: string }).name).toBe('Second');
    // Confirmed: the older link is used up, and the password stays.
    expect((await s.http('POST', first!)).status).toBe(410);
    expect((await login(email, 'chosen-password')).status).toBe(200);
  });

  it('an older sign-up’s confirmation email still queued when a newer one came goes unsent', async () => {
    const email = fresh();
    await signUp(email, 'attacker-password', 'Mallory');
    await confirmLinks(email);
    await signUp(email, 'victim-own-password', 'Victoria');
    expect(await confirmLinks(email)).toHaveLength(2);
    // The attacker's email queued again, as if the relay had not reached it before the owner's sign-up.
    await s.sys.sql`insert into account_emails (kind, email, token, password_hash, name)
      select 'confirm_email', ${email}, ${`requeued-${randomUUID()}`}, t.password_hash, t.name
      from email_tokens t join profiles p on p.id = t.profile_id
      where p.email = ${email} and t.name = 'Mallory'`;
    expect(await confirmLinks(email)).toHaveLength(2);
    expect((await s.sys.sql`select count(*)::int as n from account_emails`)[0]?.n).toBe(0);
  });

  it('a confirmed account still gets "you already have an account", with no link, and is unchanged', async () => {
    const person = await s.sys.signIn();
    await signUp(person.email, 'attacker-password', 'Mallory');
    expect(await templatesTo(person.email)).toEqual(['account-exists']);
    expect(await confirmLinks(person.email)).toEqual([]);
    expect((await login(person.email, 'correct horse battery')).status).toBe(200);
    expect((await login(person.email, 'attacker-password')).body.code).toBe('email_not_confirmed');
  });

  it('signing an unconfirmed email up again and again: at most 3 confirmation emails reach it in an hour', async () => {
    const email = fresh();
    for (let i = 0; i < 5; i++) {
      await signUp(email, `password number ${i}`, 'Flood');
      await s.sys.mailbox();
    }
    expect(await templatesTo(email)).toEqual(['confirm-email', 'confirm-email', 'confirm-email']);
  });
});

describe('A4 still holds', () => {
  /** What may differ between two answers: nothing but the request id and date. */
  const visible = (a: Answer) => ({
    status: a.status,
    text: a.text,
    headers: [...a.headers].filter(([k]) => !['date', 'x-request-id', 'content-length'].includes(k)),
  });

  it('a sign-up of a new, an unconfirmed and a confirmed email: the same answer and the same SQL', async () => {
    const unconfirmed = fresh();
    await signUp(unconfirmed, 'someone-before', 'Earlier');
    await s.sys.mailbox();
    const confirmed = (await s.sys.signIn()).email;
    const sent: Array<{ answer: ReturnType<typeof visible>; statements: string[] }> = [];
    for (const email of [fresh(), unconfirmed, confirmed]) {
      const statements: string[] = [];
      recording = statements;
      const answer = await s.http('POST', '/auth/signup', {
        body: { email, password: 'long enough pw', name: 'Prober' },
        from: '198.51.100.250',
      });
      recording = undefined;
      sent.push({ answer: visible(answer), statements });
    }
    expect(sent[0]!.answer.status).toBe(202);
    expect(sent[0]!.statements.length).toBeGreaterThan(0);
    expect(sent[1]).toEqual(sent[0]);
    expect(sent[2]).toEqual(sent[0]);
  });
});
