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
 * The canonical form a code is hashed in: case-insensitive, dashes and spaces ignored, and the
 * letters people confuse with digits read as those digits. Undefined when it cannot be a code.
 */
export function normalizeVoucherCode(input: string): string | undefined {
  const cleaned = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (cleaned.length !== GROUPS * GROUP_LENGTH) return undefined;
  for (const ch of cleaned) if (!ALPHABET.includes(ch)) return undefined;
  return cleaned;
}

export const hashVoucherCode = (normalized: string) =>
  createHash('sha256').update(`voucher:${normalized}`).digest('hex');
