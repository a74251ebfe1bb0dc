/**
 * emails/render.ts renders to static markup with react-dom/server imported once instead of through
 * React Email's `render` (which streams, and imports react-dom/server on every call): every
 * template's email must stay the same to the byte as `render` and `render(…, { plainText: true })`
 * write them, the HTML less the hydration comments React's streaming renderer adds (which no reader sees).
 */
import { render } from '@react-email/render';
import { createElement } from 'react';
import { describe, expect, it } from 'vitest';
import { renderEmail } from '../../emails/render';
import { type TemplateName, templates } from '../../emails/templates';

const names = Object.keys(templates) as TemplateName[];
/**
 * React Email's HTML without the comments React's streaming renderer adds for hydration: Suspense
 * boundaries (`<!--$-->`, `<!--/$-->`), where <html>, <head> and <body> were, and `<!-- -->` between
 * adjacent texts. Every other comment (Outlook's `<!--[if mso]>…`) must be there as it is.
 */
const reactEmailHtml = async (element: ReturnType<typeof createElement>) => {
  const html = await render(element);
  expect(html).toMatch(/<!--\$-->/);
  return html.replace(/<!--(?:\$|\/\$|html|head|body| )-->/g, '');
};
const previewOf = (name: TemplateName) =>
  (templates[name].component as unknown as { PreviewProps?: Record<string, unknown> }).PreviewProps;

describe('emails as React Email renders them', () => {
  it('every template has preview props to render', () => {
    for (const name of names) expect(previewOf(name), name).toBeDefined();
  });

  it.each(names)('%s: the same HTML and text', async (name) => {
    const props = previewOf(name) as never;
    const element = () => createElement(templates[name].component as never, props);
    const mail = await renderEmail(name, props);
    expect(mail.html).toBe(await reactEmailHtml(element()));
    expect(mail.text).toBe(await render(element(), { plainText: true }));
  });

  it('a receipt with markup-like and non-ASCII text, a carry-over and a sandbox clock', async () => {
    const props = {
      siteName: 'Büro <Nord> & "Süd" – 北',
      endsOn: '14 January 2028 at 10:00 (Europe/Prague)',
      usersLimit: 20,
      iqsLimit: 2,
      voucherSeconds: 365 * 86_400,
      carriedSeconds: 50 * 86_400,
      previous: {
        remainingSeconds: 100 * 86_400,
        usersLimit: 10,
        iqsLimit: 2,
        scaledBy: { limit: 'users' as const, from: 10, to: 20 },
      },
      sandbox: { siteTime: '3 December 2026 at 09:00 (Europe/Prague)' },
    };
    const element = () => createElement(templates['redemption-receipt'].component, props);
    const mail = await renderEmail('redemption-receipt', props);
    expect(mail.html).toBe(await reactEmailHtml(element()));
    expect(mail.text).toBe(await render(element(), { plainText: true }));
  });
});
