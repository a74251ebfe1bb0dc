/**
 * What the input checks look for in text, without recursion: NUL characters (PostgreSQL text cannot
 * hold them), invalid UTF-8 and lone surrogates (they would be stored as U+FFFD, silently changing
 * what the client sent), and JSON nested deeper than anything the API reads.
 */

/** Deeper JSON than any request of the API has; a body past it is an attack or a mistake. */
export const MAX_JSON_DEPTH = 32;

export const TEXT_PROBLEMS = {
  nul: 'must not contain NUL characters',
  utf8: 'must be valid UTF-8',
  surrogate: 'must not contain a lone surrogate (an unpaired \\uD800–\\uDFFF)',
  depth: `is nested deeper than ${MAX_JSON_DEPTH} levels`,
} as const;
export type TextProblem = keyof typeof TEXT_PROBLEMS;

const LONE_SURROGATE = /\p{Cs}/u;
/** Code units that stand for the bytes of invalid UTF-8 in `decodeUtf8Escaped` (Python's surrogateescape). */
const ESCAPED_BYTE = /[\uDC80-\uDCFF]/;

/** What is wrong with one decoded string, if anything. */
export function stringProblem(text: string, fromInvalidBytes = false): TextProblem | undefined {
  if (text.includes('\u0000')) return 'nul';
  if (LONE_SURROGATE.test(text)) return fromInvalidBytes && ESCAPED_BYTE.test(text) ? 'utf8' : 'surrogate';
  return undefined;
}

const strict = new TextDecoder('utf-8', { fatal: true });

/** The bytes as text, or undefined when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strict.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there starts none. */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const b = bytes[i + k];
    return b !== undefined && b >= lo && b <= hi;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    // No overlong forms (E0 80..9F) and no surrogates (ED A0..BF).
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/**
 * Decodes bytes that are not valid UTF-8, keeping each invalid byte as the lone surrogate
 * U+DC80 + (byte − 0x80): valid UTF-8 never decodes to a lone surrogate, so every string that holds
 * one after parsing can be named as the field with the invalid bytes.
 */
export function decodeUtf8Escaped(bytes: Uint8Array): string {
  const parts: string[] = [];
  let start = 0;
  let i = 0;
  while (i < bytes.length) {
    const n = sequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    if (start < i) parts.push(strict.decode(bytes.subarray(start, i)));
    parts.push(String.fromCharCode(0xdc00 + bytes[i]!));
    i += 1;
    start = i;
  }
  if (start < bytes.length) parts.push(strict.decode(bytes.subarray(start)));
  return parts.join('');
}

/** The bytes a percent-encoded URL or form component stands for (`+` is a space in forms). */
export function percentDecode(component: string, plusIsSpace: boolean): Uint8Array {
  const out: number[] = [];
  const text = plusIsSpace ? component.replaceAll('+', ' ') : component;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x25 && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (ch < 0x80) {
      out.push(ch);
    } else {
      out.push(...new TextEncoder().encode(text[i]));
    }
  }
  return Uint8Array.from(out);
}

/** What is wrong with one percent-encoded component once decoded, if anything. */
export function componentProblem(component: string, plusIsSpace: boolean): TextProblem | undefined {
  if (!component.includes('%')) return stringProblem(component);
  const text = decodeUtf8(percentDecode(component, plusIsSpace));
  return text === undefined ? 'utf8' : stringProblem(text);
}

export interface FoundProblem {
  path: string;
  problem: TextProblem;
}

/**
 * The first problem in a parsed JSON value, in document order, walking with an explicit stack: keys
 * and strings are checked, and a value nested deeper than MAX_JSON_DEPTH is named by its top-level
 * field (the full path would be as deep as the attack).
 */
export function findJsonProblem(
  value: unknown,
  root: string,
  fromInvalidBytes: boolean,
): FoundProblem | undefined {
  const stack: Array<{ value: unknown; path: string; depth: number; top: string }> = [
    { value, path: root, depth: 0, top: root },
  ];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item.value === 'string') {
      const problem = stringProblem(item.value, fromInvalidBytes);
      if (problem) return { path: item.path, problem };
      continue;
    }
    if (item.value === null || typeof item.value !== 'object') continue;
    if (item.depth >= MAX_JSON_DEPTH) return { path: item.top, problem: 'depth' };
    const entries = Array.isArray(item.value)
      ? item.value.map((v, i) => [String(i), v] as const)
      : Object.entries(item.value);
    // Pushed in reverse, so the first field is looked at first.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      // A key is checked as a string in its own place; a bad one is named escaped, as JSON writes it.
      const keyProblem = Array.isArray(item.value) ? undefined : stringProblem(key, fromInvalidBytes);
      const path = `${item.path}.${keyProblem ? JSON.stringify(key).slice(1, -1) : key}`;
      const top = item.depth === 0 ? path : item.top;
      stack.push({ value: keyProblem ? key : child, path, depth: item.depth + 1, top });
    }
  }
  return undefined;
}
