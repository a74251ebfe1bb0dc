import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccountsSecurity, startAccountsSecurity } from './accounts-harness';

/**
 * N2: input nobody should send is refused with 400 naming the field and changes nothing; it never
 * reaches a stack overflow (500) or the database as something else than was sent (U+FFFD).
 */
let s: AccountsSecurity;
beforeAll(async () => {
  s = await startAccountsSecurity();
});
afterAll(async () => {
  await s?.close();
});

const nested = (depth: number, open = '[', close = ']') => `${open.repeat(depth)}${close.repeat(depth)}`;
const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

async function expectRefused(answer: Awaited<ReturnType<AccountsSecurity['http']>>, path: string) {
  expect(answer.status).toBe(400);
  expect(answer.body.code).toBe('validation_failed');
  expect(answer.body.errors?.map((e) => e.path)).toEqual([path]);
}

describe('deeply nested bodies', () => {
  it.each([
    ['4,000 arrays (the reproduction)', nested(4000)],
    ['100,000 arrays', nested(100_000)],
    ['4,000 objects', deepObject(4000)],
    ['mixed arrays and objects', `${'[{"x":'.repeat(2000)}0${'}]'.repeat(2000)}`],
  ])('%s in login email → 400 naming body.email', async (_name, value) => {
    const raw = `{"email":${value},"password":"x"}`;
    await expectRefused(await s.http('POST', '/auth/login', { raw }), 'body.email');
  });

  it('nesting on the third field is named by that field, on sign-up and on a signed-in route', async () => {
    const raw = `{"email":"a@b.test","password":"long enough pw","name":${nested(500)}}`;
    await expectRefused(await s.http('POST', '/auth/signup', { raw }), 'body.name');
    const me = await s.sys.signIn();
    await expectRefused(
      await s.http('PATCH', '/me', { token: me.token, raw: `{"name":${deepObject(64)}}` }),
      'body.name',
    );
  });

  it('32 levels pass the check (the route validates them as usual); 33 are refused', async () => {
    const at = (depth: number) => `{"email":${nested(depth - 1)},"password":"x"}`;
    const ok = await s.http('POST', '/auth/login', { raw: at(32) });
    expect(ok.status).toBe(400);
    expect(ok.body.errors?.[0]?.path).toBe('body.email');
    expect(ok.text).not.toMatch(/nested deeper/);
    const deep = await s.http('POST', '/auth/login', { raw: at(33) });
    await expectRefused(deep, 'body.email');
    expect(deep.text).toMatch(/nested deeper than 32/);
  });
});

describe('invalid UTF-8 and lone surrogates', () => {
  const signup = (name: Uint8Array | string) => {
    const head = Buffer.from('{"email":"utf8-probe@example.test","password":"long enough pw","name":"');
    const tail = Buffer.from('"}');
    return Buffer.concat([head, Buffer.from(name), tail]);
  };

  it.each([
    ['a stray continuation byte', Uint8Array.from([0x41, 0x80, 0x42])],
    ['a truncated sequence', Uint8Array.from([0xe2, 0x82])],
    ['an overlong encoding', Uint8Array.from([0xc0, 0xaf])],
    ['an encoded surrogate', Uint8Array.from([0xed, 0xa0, 0x80])],
    ['a byte that never occurs', Uint8Array.from([0xff])],
  ])('%s in body.name → 400 naming it, no profile created', async (_name, bytes) => {
    await expectRefused(
      await s.http('POST', '/auth/signup', { raw: new Uint8Array(signup(bytes)) }),
      'body.name',
    );
  });

  it('a lone surrogate written as a JSON escape → 400; a proper pair passes', async () => {
    await expectRefused(await s.http('POST', '/auth/signup', { raw: signup('\\ud800') }), 'body.name');
    await expectRefused(await s.http('POST', '/auth/signup', { raw: signup('x\\udfff') }), 'body.name');
    const pair = await s.http('POST', '/auth/signup', { raw: signup('\\ud83d\\ude00') });
    expect(pair.status).toBe(202);
    await s.sys.accountMail.handOver();
    const rows = await s.sys.sql`select name from profiles where email = 'utf8-probe@example.test'`;
    // Only the valid sign-up made it: its name is the emoji, not U+FFFD.
    expect(rows.map((r) => r.name)).toEqual(['😀']);
  });

  it('in query strings and path parameters too, named', async () => {
    const me = await s.sys.signIn();
    const site = await s.http('POST', '/sites', { token: me.token, body: { name: 'Probe' } });
    const siteId = site.body.id as string;
    for (const bad of ['%FF', '%ED%A0%80', '%C0%AF', '%00']) {
      const q = await s.http('GET', `/sites/${siteId}/events?limit=${bad}`, { token: me.token });
      await expectRefused(q, 'query.limit');
      const p = await s.http('GET', `/sites/${bad}`, { token: me.token });
      await expectRefused(p, 'params.siteId');
    }
  });

  it('a form body with invalid UTF-8 → 400 naming the field (the reset form: a page)', async () => {
    const res = await s.http('POST', '/auth/password-reset/some-token', {
      raw: new Uint8Array(Buffer.concat([Buffer.from('password='), Buffer.from([0xff, 0xfe])])),
      type: 'application/x-www-form-urlencoded',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.text).toContain('body: must be valid UTF-8');
  });
});

describe('bodies past 256 KiB', () => {
  const json = (bytes: number) => `{"email":"${'a'.repeat(bytes - 27)}","password":"x"}`;

  it('a declared length past the limit → 413 payload_too_large; up to it, the route reads it', async () => {
    expect(json(256 * 1024)).toHaveLength(256 * 1024);
    const at = await s.http('POST', '/auth/login', { raw: json(256 * 1024) });
    expect(at.status).toBe(400);
    expect(at.body.code).toBe('validation_failed');
    const past = await s.http('POST', '/auth/login', { raw: json(256 * 1024 + 1) });
    expect(past.status).toBe(413);
    expect(past.body.code).toBe('payload_too_large');
    const me = await s.sys.signIn();
    const patch = await s.http('PATCH', '/me', { token: me.token, raw: json(300 * 1024) });
    expect(patch.body.code).toBe('payload_too_large');
  });

  it('a chunked body (no declared length) is counted as it is read', async () => {
    const at = await s.http('POST', '/auth/login', { raw: json(256 * 1024), chunked: true });
    expect(at.status).toBe(400);
    expect(at.body.code).toBe('validation_failed');
    const past = await s.http('POST', '/auth/login', { raw: json(256 * 1024 + 1), chunked: true });
    expect(past.status).toBe(413);
    expect(past.body.code).toBe('payload_too_large');
  });
});

describe('names people read (a person’s, a site’s, a lock’s, an IQ’s and its model)', () => {
  it.each([
    ['a right-to-left override inside', 'Hannah\u202Efdp.exe'],
    ['a bidirectional isolate', 'A\u2067B\u2069C'],
    ['a left-to-right mark', 'Home\u200E1'],
    ['a line break', 'Home\nBcc: someone@example.test'],
    ['a tab', 'Home\t1'],
    ['nothing visible (zero-width spaces)', '\u200B\u200B'],
    ['spaces only (no-break and ideographic)', ' \u00A0\u3000 '],
  ])('%s → 400 naming body.name on every route that takes one; nothing changes', async (_name, bad) => {
    const me = await s.sys.signIn();
    const site = await s.http('POST', '/sites', { token: me.token, body: { name: 'Names' } });
    expect(site.status).toBe(201);
    const siteId = site.body.id as string;
    const iq = await s.http('POST', `/sites/${siteId}/iqs`, {
      token: me.token,
      body: {
        serial: `NAMES-${Date.now()}-${Math.random().toString(36).slice(2)}`,
        model: 'IQ2',
        name: 'Hall',
      },
    });
    expect(iq.status).toBe(201);
    const iqId = iq.body.id as string;
    const refusedOn: Array<[string, string, Record<string, unknown>, string | undefined]> = [
      [
        'POST',
        '/auth/signup',
        { email: 'names-probe@example.test', password: 'long enough pw', name: bad },
        undefined,
      ],
      ['PATCH', '/me', { name: bad }, me.token],
      ['POST', '/sites', { name: bad }, me.token],
      ['POST', `/sites/${siteId}/iqs`, { serial: 'NAMES-REFUSED', model: 'IQ2', name: bad }, me.token],
      ['PATCH', `/sites/${siteId}/iqs/${iqId}`, { name: bad }, me.token],
      ['POST', `/sites/${siteId}/locks`, { iqId, name: bad }, me.token],
    ];
    for (const [method, path, body, token] of refusedOn)
      await expectRefused(await s.http(method, path, token ? { token, body } : { body }), 'body.name');
    // An IQ's model is shown to people as its name is.
    await expectRefused(
      await s.http('POST', `/sites/${siteId}/iqs`, {
        token: me.token,
        body: { serial: 'NAMES-MODEL', model: bad },
      }),
      'body.model',
    );

    const [profile] = await s.sys.sql`select name from profiles where id = ${me.id}`;
    expect(profile?.name).not.toBe(bad);
    expect(await s.sys.sql`select 1 from profiles where email = 'names-probe@example.test'`).toHaveLength(0);
    expect(await s.sys.sql`select name from iqs where site_id = ${siteId}`).toEqual([{ name: 'Hall' }]);
    expect(await s.sys.sql`select 1 from locks where site_id = ${siteId}`).toHaveLength(0);
  });

  it('are kept without the spaces and invisible characters at their ends; any script, emoji and joiners pass', async () => {
    const me = await s.sys.signIn();
    const name = 'Zoë 👨‍👩‍👧 אבג नमस्ते';
    const renamed = await s.http('PATCH', '/me', {
      token: me.token,
      body: { name: `\u200B\u00A0${name} \uFEFF` },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe(name);
    const [row] = await s.sys.sql`select name from profiles where id = ${me.id}`;
    expect(row?.name).toBe(name);
  });
});
