import { plainTextSelectors } from '@react-email/render';
import { compile } from 'html-to-text';
import { createElement, type ReactElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { createShapeRenderer, type RenderedEmail } from './shapes';
import { type TemplateName, type TemplateProps, templates } from './templates';

/**
 * React Email's `toPlainText` with its own options, compiled once: `toPlainText` compiles its
 * selectors on every call, which cost more CPU than rendering the email (issue 15's profile of a
 * redemption's receipt).
 */
const toPlainText = compile({ wordwrap: false, selectors: plainTextSelectors });

const DOCTYPE =
  '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">';

/**
 * React Email's `render` (@react-email/render 2.3, Node), the same document less the hydration comments
 * React's streaming renderer writes (Suspense boundaries, the places of <html>, <head> and <body>,
 * separators between texts): rendered at once to static markup, which cost about a sixth of the CPU
 * (issue 15: 0.1 against 0.65 ms per receipt), with react-dom/server imported once (`render` imports
 * it on every call). test/email/render-identical.test.ts holds every template to that. Our templates
 * suspend on nothing and have no images (no preload links to strip); an error a component throws
 * fails the render.
 */
function renderHtml(element: ReactElement): string {
  return DOCTYPE + renderToStaticMarkup(element).replace(/<!DOCTYPE.*?>/, '');
}

type AnyTemplate = {
  component: (p: Record<string, unknown>) => React.ReactElement;
  subject: (p: Record<string, unknown>) => string;
  slots?: readonly string[];
};

/** A template rendered by React, its text the HTML converted, as `render(…, { plainText: true })` does. */
export async function renderDirectly<N extends TemplateName>(
  name: N,
  props: TemplateProps<N>,
): Promise<RenderedEmail> {
  const { component, subject } = templates[name] as unknown as AnyTemplate;
  const html = renderHtml(createElement(component as never, props as never));
  return { subject: subject(props as never), html, text: toPlainText(html) };
}

/** Per template with slots, its shapes (emails/shapes.ts). */
const shapeRenderers = new Map<TemplateName, ReturnType<typeof createShapeRenderer>>();

export function renderEmail<N extends TemplateName>(
  name: N,
  props: TemplateProps<N>,
): Promise<RenderedEmail> {
  const { subject, slots } = templates[name] as unknown as AnyTemplate;
  if (!slots) return renderDirectly(name, props);
  let renderer = shapeRenderers.get(name);
  if (!renderer) {
    renderer = createShapeRenderer((p) => renderDirectly(name, p as never), slots, subject);
    shapeRenderers.set(name, renderer);
  }
  return renderer.render(props as never);
}
