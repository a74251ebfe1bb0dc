import { createHash, randomBytes } from 'node:crypto';

// Crockford base32: no I, L, O, U, so codes read aloud and typed by hand stay unambiguous.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const GROUPS = 5;
const GROUP_LENGTH = 4;
/** 20 symbols × 5 bits = 100 random bits (V12 asks for at least 80). */
export const VOUCHER_CODE_BITS = GROUPS * GROUP_LENGTH * 5;

export function generateVoucherCode(): string {
  const bytes = randomBytes(GROUPS * GROUP_LENGTH);
  const symbols = [...bytes].map((b) => ALPHABET[b & 31]);
  const groups: string[] = [];
  for (let g = 0; g < GROUPS; g++)
    groups.push(symbols.slice(g * GROUP_LENGTH, (g + 1) * GROUP_LENGTH).join(''));
  return groups.join('-');
}

/**
 * What a typed code may carry between its symbols and is ignored (V12): every dash (ASCII, the
 * Unicode dash punctuation U+2010–U+2015 and its kin, the minus sign U+2212), every space (ASCII,
 * non-breaking, the typographic spaces) and the invisible characters that copying from a document
 * brings along (soft hyphen, zero-width space and joiners, word joiner, byte-order mark).
 */
const IGNORED = /[\s\p{Pd}\u2212\u00AD\u200B-\u200D\u2060\uFEFF]/gu;

/**
 * The canonical form a code is hashed in: case-insensitive, dashes and spaces ignored, and the
 * letters people confuse with digits read as those digits. NFKC first, so full-width letters and
 * digits (an East Asian keyboard's) read as their ASCII selves. Undefined when it cannot be a code.
 */
export function normalizeVoucherCode(input: string): string | undefined {
  const cleaned = input
    .normalize('NFKC')
    .toUpperCase()
    .replace(IGNORED, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
  if (cleaned.length !== GROUPS * GROUP_LENGTH) return undefined;
  for (const ch of cleaned) if (!ALPHABET.includes(ch)) return undefined;
  return cleaned;
}

/** True when a typed code holds nothing but what is ignored: an empty field, in effect. */
export const isBlankVoucherCode = (input: string) => input.normalize('NFKC').replace(IGNORED, '') === '';

export const hashVoucherCode = (normalized: string) =>
  createHash('sha256').update(`voucher:${normalized}`).digest('hex');
