import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer } from '../../emails/mailer';
import { startTestSystem, type TestSystem } from '../support/system';

/** /dev/mailbox: JSON for tools, an HTML index for a person in a browser (content negotiation). */
let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({});
});
afterAll(async () => {
  await sys?.close();
});

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

async function send(name: string) {
  const to = `mailbox-${randomUUID()}@example.test`;
  const mailer = createMailer({ db: sys.db, from: 'KS Cloud <no-reply@ks.test>' });
  const sent = await mailer.send({
    to,
    template: 'confirm-email',
    props: { name, confirmUrl: `https://ks.test/auth/confirm/${randomUUID()}` },
    idempotencyKey: `mailbox-test:${to}`,
  });
  return { to, id: sent.id };
}

describe('development mailbox', () => {
  it('gives a browser an HTML index, newest first, each entry linking to its email', async () => {
    const older = await send('Older <b>Person</b>');
    const newer = await send('Newer Person');

    const res = await sys.request('GET', '/dev/mailbox', { headers: { accept: BROWSER_ACCEPT } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toMatch(/(^|;\s*)default-src 'none'/);
    const page = await res.text();
    expect(page).toContain('Development mailbox');
    const newerAt = page.indexOf(`href="/dev/mailbox/${newer.id}"`);
    const olderAt = page.indexOf(`href="/dev/mailbox/${older.id}"`);
    expect(newerAt).toBeGreaterThan(-1);
    expect(olderAt).toBeGreaterThan(newerAt);
    expect(page).toContain(newer.to);
    expect(page).toContain('<code>confirm-email</code>');
    // What an email holds is escaped on the index, never markup of the page.
    expect(page).not.toContain('<b>Person</b>');

    // The link leads to that email.
    const one = await sys.request('GET', `/dev/mailbox/${newer.id}`, { headers: { accept: BROWSER_ACCEPT } });
    expect(one.status).toBe(200);
    expect(await one.text()).toContain('Newer Person');
  });

  it('answers JSON to tools: no Accept, */*, or JSON preferred over HTML', async () => {
    const mail = await send('Tool Reader');
    for (const accept of [undefined, '*/*', 'application/json', 'application/json, text/html']) {
      const res = await sys.request('GET', '/dev/mailbox', accept ? { headers: { accept } } : {});
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const list = (await res.json()) as Array<{ id: string; to: string }>;
      expect(list.find((m) => m.id === mail.id)?.to).toBe(mail.to);
    }
  });

  it('answers only requests addressed to this machine (DNS rebinding): any other Host is refused', async () => {
    const mail = await send('Rebound Reader');
    for (const origin of [
      'http://localhost:3000',
      'http://127.0.0.1:3000',
      'http://[::1]:3000',
      'http://localhost',
    ]) {
      expect((await sys.request('GET', `${origin}/dev/mailbox`)).status).toBe(200);
      expect((await sys.request('GET', `${origin}/dev/mailbox/${mail.id}`)).status).toBe(200);
    }
    for (const origin of [
      'http://rebound.example',
      'http://localhost.rebound.example:3000',
      'http://10.0.0.7:3000',
    ]) {
      const list = await sys.request('GET', `${origin}/dev/mailbox`);
      expect(list.status).toBe(403);
      expect(await list.text()).not.toContain(mail.to);
      const one = await sys.request('GET', `${origin}/dev/mailbox/${mail.id}`);
      expect(one.status).toBe(403);
      expect(await one.text()).not.toContain('Rebound Reader');
    }
  });

  it('documents both answers in the OpenAPI document', async () => {
    const doc = (await (await sys.request('GET', '/openapi.json')).json()) as {
      paths: Record<string, { get?: { responses: Record<string, { content: Record<string, unknown> }> } }>;
    };
    const content = doc.paths['/dev/mailbox']?.get?.responses['200']?.content ?? {};
    expect(Object.keys(content).sort()).toEqual(['application/json', 'text/html']);
  });
});
