import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer } from '../../emails/mailer';
import { createSite } from '../support/fixtures';
import { activate } from '../support/people';
import { productionApp } from '../support/production-app';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * Security headers (issue 11 finding 9, API.md): every answer of every operation in the OpenAPI
 * document says nosniff, whoever asks and whatever they send; JSON answers (which carry personal
 * data) are never cached; HSTS in production mode only.
 */
let sys: TestSystem;
let owner: Awaited<ReturnType<TestSystem['signIn']>>;
let siteId: string;
let operations: Array<{ method: string; path: string }>;

beforeAll(async () => {
  sys = await startTestSystem({});
  owner = await sys.signIn();
  siteId = (await createSite(sys, owner.id)).id;
  await activate(sys, owner.token, siteId);
  const doc = (await (await sys.request('GET', '/openapi.json')).json()) as {
    paths: Record<string, Record<string, unknown>>;
  };
  operations = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((method) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
      .map((method) => ({ method: method.toUpperCase(), path })),
  );
});
afterAll(async () => {
  await sys?.close();
});

/** A concrete URL: the owner's site for {siteId}, a random id for every other parameter. */
const concrete = (path: string) =>
  path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'siteId' ? siteId : randomUUID()));

describe('security headers on every operation', () => {
  it('the document lists the operations to check', () => {
    expect(operations.length).toBeGreaterThan(40);
  });

  it('the answers with personal data are never cached', async () => {
    for (const path of ['/me', `/sites/${siteId}`, `/sites/${siteId}/people`, `/sites/${siteId}/events`]) {
      const res = await sys.request('GET', path, { token: owner.token });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control'), path).toMatch(/no-store/);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });

  for (const caller of ['anonymous', 'owner'] as const) {
    it(`every answer to ${caller} says nosniff and keeps JSON out of caches`, async () => {
      const wrong: string[] = [];
      // The owner's session ends at logout or a password change: those go last.
      const ending = (path: string) => path === '/auth/logout' || path === '/me/password';
      const ordered = [...operations].sort((a, b) => Number(ending(a.path)) - Number(ending(b.path)));
      for (const { method, path } of ordered) {
        const res = await sys.request(method, concrete(path), {
          ...(caller === 'owner' ? { token: owner.token } : {}),
          ...(method === 'GET' || method === 'DELETE' ? {} : { body: {} }),
        });
        const type = res.headers.get('content-type') ?? '';
        const where = `${method} ${path} → ${res.status}`;
        if (res.status >= 500) wrong.push(`${where}: a 5xx`);
        if (res.headers.get('x-content-type-options') !== 'nosniff') wrong.push(`${where}: no nosniff`);
        if (
          /json/.test(type) &&
          path !== '/openapi.json' &&
          !/no-store/.test(res.headers.get('cache-control') ?? '')
        )
          wrong.push(`${where}: ${type} without Cache-Control no-store`);
        if (res.headers.has('strict-transport-security')) wrong.push(`${where}: HSTS in development mode`);
        await res.arrayBuffer();
      }
      expect(wrong).toEqual([]);
    });
  }

  it('JSON answers carry what acts on them; documents (pages, the docs) the page headers too', async () => {
    const documentOnly = [
      'cross-origin-opener-policy',
      'origin-agent-cluster',
      'referrer-policy',
      'x-dns-prefetch-control',
      'x-download-options',
      'x-permitted-cross-domain-policies',
      'x-xss-protection',
    ];
    // Its own caller: the owner's session ends in the test above.
    const caller = await sys.signIn();
    const answers = [
      await sys.request('GET', '/me', { token: caller.token }),
      await sys.request('GET', `/sites/${randomUUID()}`, { token: caller.token }),
      await sys.request('POST', '/auth/logout', {}),
      await sys.request('GET', '/docs'),
      await sys.request('GET', `/auth/confirm/${randomUUID()}`),
    ];
    const shown = answers.map((res) => ({
      type: (res.headers.get('content-type') ?? '').split(';')[0],
      status: res.status,
      frame: res.headers.get('x-frame-options'),
      resource: res.headers.get('cross-origin-resource-policy'),
      sniff: res.headers.get('x-content-type-options'),
      document: documentOnly.filter((name) => res.headers.has(name)).length,
    }));
    const common = { frame: 'DENY', resource: 'same-origin', sniff: 'nosniff' };
    expect(shown).toEqual([
      { type: 'application/json', status: 200, ...common, document: 0 },
      { type: 'application/problem+json', status: 404, ...common, document: 0 },
      { type: 'application/problem+json', status: 401, ...common, document: 0 },
      { type: 'text/html', status: 200, ...common, document: documentOnly.length },
      { type: 'text/html', status: expect.any(Number), ...common, document: documentOnly.length },
    ]);
    for (const res of answers.slice(3)) {
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('production mode adds HSTS to every answer, errors included', async () => {
    const production = productionApp(sys, {
      mailer: createMailer({ db: sys.db, from: 'KS Cloud <no-reply@ks.test>' }),
    });
    for (const [method, path] of [
      ['GET', '/health'],
      ['GET', '/me'],
      ['POST', '/auth/login'],
      ['GET', `/sites/${randomUUID()}`],
      ['GET', '/no-such-path'],
    ] as const) {
      const res = await production.request(path, {
        method,
        ...(method === 'POST' ? { body: '{', headers: { 'content-type': 'application/json' } } : {}),
      });
      expect(res.headers.get('strict-transport-security'), `${method} ${path}`).toMatch(/max-age=\d{7,}/);
      expect(res.headers.get('x-content-type-options'), `${method} ${path}`).toBe('nosniff');
    }
  });
});
