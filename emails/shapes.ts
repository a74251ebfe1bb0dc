/**
 * Emails of one kind mostly differ only in a few texts (a site's name, a date): such a template is
 * rendered once per shape, with those texts (its `slots`) replaced by markers of the same length, and
 * each email fills its own texts in: escaped as React escapes text in the HTML, as they are in the
 * plain text (issue 15: a receipt rendered by React and converted to text cost about 0.15 ms of CPU
 * warm, and several times that while its code was still being compiled). Markers of the same length
 * keep what depends on a text's length the same (the preview's cut and padding at 150 characters).
 * A text is rendered directly instead when html-to-text could change it (whitespace other than single
 * spaces between words), when a prop holds the markers' characters, or when a marker does not come
 * out whole (cut by the preview). test/email/render-shapes.test.ts holds every filled email equal to its
 * direct rendering over generated props.
 */

import { escapeHtml } from '../domain/html';

/** An email as it is sent: its subject, HTML and plain text. */
export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

/** A rendering split at its markers: literal text, then the slot whose value goes there, and so on. */
type Parts = Array<string | number>;

/** A marker: the slot's own first character, then fillers up to the text's length. */
const MARKER_FIRST = 0xe100;
const FILLER = '\ue000';
const MARKERS = /[\ue100-\ue1ff]\ue000*/g;
const MARKER_CHARS = /[\ue000-\ue1ff]/;
/** Words separated by single spaces: what html-to-text leaves as it is. */
const PLAIN = /^(?:[^\s\u200b]+ )*[^\s\u200b]+$/;
/** Shapes kept per process, the oldest forgotten first. */
const MAX_SHAPES = 256;

const markerOf = (slot: number, length: number) =>
  String.fromCharCode(MARKER_FIRST + slot) + FILLER.repeat(length - 1);

/** `rendered` split at the markers, or undefined when one did not come out whole. */
function split(rendered: string, markers: readonly string[]): Parts | undefined {
  const parts: Parts = [];
  let from = 0;
  for (const match of rendered.matchAll(MARKERS)) {
    const slot = match[0].charCodeAt(0) - MARKER_FIRST;
    if (match[0] !== markers[slot]) return undefined;
    parts.push(rendered.slice(from, match.index), slot);
    from = match.index + match[0].length;
  }
  parts.push(rendered.slice(from));
  return parts;
}

/** A text that comes out of React and html-to-text as it went in, but for the HTML's escaping. */
const fillable = (value: unknown): value is string => typeof value === 'string' && PLAIN.test(value);

const fill = (parts: Parts, values: readonly string[]) =>
  parts.map((part) => (typeof part === 'number' ? values[part] : part)).join('');

/**
 * Renders through shapes: `render` renders directly; `slots`, the names of the props that each
 * template only ever shows as text (never decides by, never changes).
 */
export function createShapeRenderer<P extends object>(
  render: (props: P) => Promise<RenderedEmail>,
  slots: readonly (keyof P & string)[],
  subject: (props: P) => string,
) {
  /** Per shape: the HTML and text split at the markers, or null when it must be rendered directly. */
  const shapes = new Map<string, { html: Parts; text: Parts } | null>();
  const stats = { direct: 0, filled: 0 };

  const direct = (props: P) => {
    stats.direct++;
    return render(props);
  };

  return {
    stats,
    async render(props: P): Promise<RenderedEmail> {
      const values = slots.map((slot): unknown => props[slot]);
      // A marker's character anywhere in the props (a slot or not) would be taken for a marker.
      if (!values.every(fillable) || MARKER_CHARS.test(JSON.stringify(props))) return direct(props);
      const markers = values.map((v, slot) => markerOf(slot, v.length));
      const marked = { ...props, ...Object.fromEntries(slots.map((slot, i) => [slot, markers[i]])) };
      const key = JSON.stringify(marked);
      let shape = shapes.get(key);
      if (shape === undefined) {
        const rendered = await direct(marked);
        const html = split(rendered.html, markers);
        const text = split(rendered.text, markers);
        shape = html && text ? { html, text } : null;
        if (shapes.size >= MAX_SHAPES) shapes.delete(shapes.keys().next().value!);
        shapes.set(key, shape);
      }
      if (shape === null) return direct(props);
      stats.filled++;
      return {
        subject: subject(props),
        html: fill(shape.html, values.map(escapeHtml)),
        text: fill(shape.text, values),
      };
    },
  };
}
