import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureChromium } from '../../infra/chromium';
import { consentToken, fileDeletion, personInSites } from '../support/deletion';
import { createSite } from '../support/fixtures';
import { activate, linkIn } from '../support/people';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * The pages a person opens from an email, and the API documentation, as a real browser shows them
 * (Debian's headless chromium, installed by ensureChromium when missing): what a person checks (the
 * buttons, the deadline, the operations listed) and that nothing loads from anywhere but the API.
 */
const chromium = ensureChromium((line) => console.log(line));
if ('missing' in chromium) console.warn(`browser tests skipped: ${chromium.missing}`);

let sys: TestSystem;
let baseUrl: string;
let close: () => Promise<void>;
let browser: Browser;

beforeAll(async () => {
  if (!('path' in chromium)) return;
  sys = await startTestSystem({});
  const server = serve({ fetch: sys.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  browser = await puppeteer.launch({
    executablePath: chromium.path,
    headless: true,
    // No name resolves but the loopback API: a page that needs the internet shows it by failing.
    args: ['--no-sandbox', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
});
afterAll(async () => {
  await browser?.close();
  await close?.();
  await sys?.close();
});

/** Opens `path` and records every URL the page requested. */
async function open(path: string): Promise<{ page: Page; requested: string[] }> {
  const page = await browser.newPage();
  const requested: string[] = [];
  page.on('request', (request) => {
    requested.push(request.url());
  });
  await page.goto(`${baseUrl}${path}`, { waitUntil: 'networkidle0' });
  return { page, requested };
}

/** What a person reads (run in the page: the test's TypeScript has no DOM types). */
const bodyText = (page: Page) => page.evaluate('document.body.innerText') as Promise<string>;

const elsewhere = (requested: string[]) =>
  requested.filter((url) => !url.startsWith(`${baseUrl}/`) && !url.startsWith('data:'));

describe.skipIf(!('path' in chromium))('pages in a real browser', () => {
  it('the invitation page names the site, the role and the deadline, and accepts with a visible button', async () => {
    const owner = await sys.signIn();
    const site = await createSite(sys, owner.id);
    await activate(sys, owner.token, site.id);
    const email = `invitee-${Date.now()}@example.test`;
    const invited = await sys.request('POST', `/sites/${site.id}/people`, {
      token: owner.token,
      body: { email, role: 'admin' },
    });
    expect(invited.status).toBe(201);
    const { expiresAt } = (await invited.json()) as { expiresAt: string };

    const { page, requested } = await open(await linkIn(sys, email, '/invitations/'));
    const text = await bodyText(page);
    expect(text).toContain(site.name);
    expect(text.toLowerCase()).toContain('admin');
    // The deadline the page shows is the invitation's.
    const shown = await page.$eval('time', (t) => t.getAttribute('datetime'));
    expect(shown).toBe(expiresAt);
    // A new email gets the account form and one button that says what it does.
    const buttons = await page.$$eval('form button[type=submit]', (all) =>
      all.map((b) => {
        const button = b as unknown as { textContent: string | null; offsetHeight: number };
        return { text: button.textContent ?? '', visible: button.offsetHeight > 0 };
      }),
    );
    expect(buttons).toHaveLength(1);
    expect(buttons[0]!.visible).toBe(true);
    expect(buttons[0]!.text).toContain(site.name);
    expect(await page.$('input[type=password]')).not.toBeNull();
    expect(await page.$$('script')).toHaveLength(0);
    expect(elsewhere(requested)).toEqual([]);

    // Accepting in the browser (no JavaScript) makes a member.
    await page.type('input[name=name]', 'Invited Person');
    await page.type('input[type=password]', 'a long enough password');
    await Promise.all([page.waitForNavigation(), page.click('form button[type=submit]')]);
    const after = await bodyText(page);
    expect(after).toContain(site.name);
    const people = (await (
      await sys.request('GET', `/sites/${site.id}/people`, { token: owner.token })
    ).json()) as Array<{ email?: string; status: string }>;
    expect(people.find((p) => p.email === email)?.status).toBe('member');
    await page.close();
  });

  it('the consent page names the service, the member by name and masked email, the filing and the deadline; Approve leads to what happens next', async () => {
    const support = await sys.signIn({ platformRole: 'support' });
    const { person, sites } = await personInSites(sys, 2);
    const request = await fileDeletion(sys, support.token, person.email);
    const token = await consentToken(sys, request.id, sites[0]!.id);
    const stored = (await (
      await sys.request('GET', `/support/profile-deletions/${request.id}`, { token: support.token })
    ).json()) as { consentDeadline: string };

    const { page, requested } = await open(`/consents/${token}`);
    const text = await bodyText(page);
    expect(text.trimStart().startsWith('KS Cloud')).toBe(true);
    expect(text).toContain(sites[0]!.name);
    expect(text).toContain(person.name);
    const masked = `${person.email[0]}•••@${person.email.split('@')[1]}`;
    expect(text).toContain(masked);
    expect(text).not.toContain(person.email);
    expect(text).toMatch(/Filed by\s+KS Cloud support/);
    // The deadline shown is the request's consent deadline, as the email words it.
    const times = await page.$$eval('time', (all) =>
      all.map((t) => ({
        datetime: t.getAttribute('datetime'),
        text: (t as unknown as { textContent: string }).textContent,
      })),
    );
    expect(times.map((t) => t.datetime)).toContain(stored.consentDeadline);
    const mail = (await sys.mailbox()).find(
      (m) => m.idempotencyKey === `deletion-consent-request:${request.id}:${sites[0]!.id}`,
    );
    const deadlineText = times.find((t) => t.datetime === stored.consentDeadline)!.text;
    expect(mail!.text.replace(/\s+/g, ' ')).toContain(`answer by ${deadlineText}`);
    expect(text).toContain(deadlineText);
    // Two visible buttons: Approve first and primary, Deny distinct in look.
    const buttons = await page.$$eval('form button[type=submit]', (all) =>
      all.map((b) => {
        const button = b as unknown as {
          textContent: string | null;
          offsetHeight: number;
          value: string;
          className: string;
        };
        const style = (
          globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }
        ).getComputedStyle(b);
        return {
          text: button.textContent ?? '',
          value: button.value,
          visible: button.offsetHeight > 0,
          kind: button.className,
          background: style.backgroundColor,
        };
      }),
    );
    expect(buttons.map((b) => [b.value, b.kind, b.visible])).toEqual([
      ['approve', 'primary', true],
      ['deny', 'secondary', true],
    ]);
    expect(buttons[0]!.text).toContain('Approve');
    expect(buttons[1]!.text).toContain('Deny');
    expect(buttons[0]!.background).not.toBe(buttons[1]!.background);
    expect(await page.$$('script')).toHaveLength(0);
    expect(elsewhere(requested)).toEqual([]);

    // Approving in the browser (no JavaScript): the thank-you page says what happens next.
    await Promise.all([page.waitForNavigation(), page.click('button[value=approve]')]);
    const after = await bodyText(page);
    expect(after.trimStart().startsWith('KS Cloud')).toBe(true);
    expect(after).toContain('Approval recorded');
    expect(after).toContain('What happens next');
    expect(after).toContain(sites[0]!.name);
    expect(after).toContain(deadlineText);
    expect(await page.$$('script')).toHaveLength(0);
    expect(elsewhere(requested)).toEqual([]);
    await page.close();

    // Deny on the other site's page: the request ends, and the page says so.
    const other = await open(`/consents/${await consentToken(sys, request.id, sites[1]!.id)}`);
    await Promise.all([other.page.waitForNavigation(), other.page.click('button[value=deny]')]);
    const denied = await bodyText(other.page);
    expect(denied).toContain('Denial recorded');
    expect(denied).toContain('nothing');
    expect(elsewhere(other.requested)).toEqual([]);
    await other.page.close();
  });

  it('/docs lists the operations of the OpenAPI document, loading nothing from elsewhere', async () => {
    const doc = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    const { page, requested } = await open('/docs');
    // The viewer renders client-side: wait until it has drawn the operations.
    await page.waitForFunction(
      `document.body.innerText.replace(/\u200b/g, '').includes('/sites/{siteId}/subscription/redemptions')`,
      { timeout: 30_000 },
    );
    const text = (await bodyText(page)).replace(/\u200b/g, '');
    const missing = Object.keys(doc.paths).filter((path) => !text.includes(path));
    expect(missing).toEqual([]);
    expect(elsewhere(requested)).toEqual([]);
    await page.close();
  });
});
