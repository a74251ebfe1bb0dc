import { plainTextSelectors } from '@react-email/render';
import { compile } from 'html-to-text';
import { Component, createElement, type ReactElement, type ReactNode, Suspense } from 'react';
import { renderToReadableStream } from 'react-dom/server';
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

const DOCTYPE =
  '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">';

/** Fails the render with an error a component threw, as React Email's `render` does. */
function failingOn(reject: (error: unknown) => void) {
  return class FailOnError extends Component<{ children: ReactNode }> {
    override componentDidCatch(error: unknown) {
      reject(error);
    }
    override render() {
      return this.props.children;
    }
  };
}

/**
 * React Email's `render` (@react-email/render 2.3, Node), the same document to the byte
 * (test/email/render-identical.test.ts), with react-dom/server imported once: `render` imports it
 * on every call, which under tsx's loader hooks cost more CPU than the rendering (issue 15: about 3
 * of 4 ms per receipt). Our templates have no images, so there are no image preload links to strip.
 */
async function renderHtml(element: ReactElement): Promise<string> {
  const html = await new Promise<string>((resolve, reject) => {
    const wrapped = createElement(failingOn(reject), null, createElement(Suspense, null, element));
    renderToReadableStream(wrapped, { progressiveChunkSize: Number.POSITIVE_INFINITY, onError: reject })
      .then(async (stream) => {
        await stream.allReady;
        return new Response(stream).text();
      })
      .then(resolve, reject);
  });
  return DOCTYPE + html.replace(/<!DOCTYPE.*?>/, '');
}

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
  const html = await renderHtml(element);
  return { subject: subject(props), html, text: toPlainText(html) };
}
