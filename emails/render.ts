import { plainTextSelectors, render } from '@react-email/render';
import { compile } from 'html-to-text';
import { createElement } from 'react';
import { type TemplateName, type TemplateProps, templates } from './templates';

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

/**
 * React Email's `toPlainText` with its own options, compiled once: `toPlainText` compiles its
 * selectors on every call, which cost more CPU than rendering the email (issue 15's profile of a
 * redemption's receipt).
 */
const toPlainText = compile({ wordwrap: false, selectors: plainTextSelectors });

export async function renderEmail<N extends TemplateName>(
  name: N,
  props: TemplateProps<N>,
): Promise<RenderedEmail> {
  const { component, subject } = templates[name] as unknown as {
    component: (p: TemplateProps<N>) => React.ReactElement;
    subject: (p: TemplateProps<N>) => string;
  };
  const element = createElement(component as never, props as never);
  // One React render: the text is the HTML converted, as `render(…, { plainText: true })` would do.
  const html = await render(element);
  return { subject: subject(props), html, text: toPlainText(html) };
}
