import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  generateVoucherCode,
  hashVoucherCode,
  isBlankVoucherCode,
  normalizeVoucherCode,
  VOUCHER_CODE_BITS,
} from '../../domain/voucher-codes';

/** What people type between the symbols of a code, or paste along with it (V12). */
const SEPARATORS = [
  '-',
  ' ',
  '\t',
  '\u00A0', // no-break space
  '\u2007', // figure space
  '\u2009', // thin space
  '\u202F', // narrow no-break space
  '\u3000', // ideographic space
  '\u2010', // hyphen
  '\u2011', // non-breaking hyphen
  '\u2012', // figure dash
  '\u2013', // en dash
  '\u2014', // em dash
  '\u2015', // horizontal bar
  '\u2212', // minus sign
  '\uFE63', // small hyphen-minus
  '\uFF0D', // full-width hyphen-minus
  '\u00AD', // soft hyphen
  '\u200B', // zero-width space
  '\u2060', // word joiner
  '\uFEFF', // byte-order mark
];

describe('voucher codes (V12)', () => {
  it('carry at least 80 random bits and read back as themselves', () => {
    expect(VOUCHER_CODE_BITS).toBeGreaterThanOrEqual(80);
    const code = generateVoucherCode();
    expect(code).toMatch(/^([0-9A-HJKMNP-TV-Z]{4}-){4}[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(normalizeVoucherCode(code)).toBe(code.replaceAll('-', ''));
  });

  it.each(SEPARATORS.map((s) => [s.codePointAt(0)!.toString(16).padStart(4, '0'), s]))(
    'U+%s between the groups is ignored',
    (_, separator) => {
      const code = generateVoucherCode();
      expect(normalizeVoucherCode(code.replaceAll('-', separator))).toBe(code.replaceAll('-', ''));
    },
  );

  it('property: any separators anywhere, any case, full-width forms: the same code and hash', () => {
    const symbol = fc.constantFrom(...'0123456789ABCDEFGHJKMNPQRSTVWXYZ');
    fc.assert(
      fc.property(
        fc.array(symbol, { minLength: 20, maxLength: 20 }),
        fc.array(fc.array(fc.constantFrom(...SEPARATORS), { maxLength: 2 }), {
          minLength: 21,
          maxLength: 21,
        }),
        fc.array(fc.constantFrom('lower', 'upper', 'full-width'), { minLength: 20, maxLength: 20 }),
        (symbols, separators, forms) => {
          const typed = symbols
            .map((c, i) => {
              const form = forms[i];
              const shown =
                form === 'lower'
                  ? c.toLowerCase()
                  : form === 'full-width'
                    ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0)
                    : c;
              return separators[i]!.join('') + shown;
            })
            .join('')
            .concat(separators[20]!.join(''));
          const canonical = symbols.join('');
          expect(normalizeVoucherCode(typed)).toBe(canonical);
          expect(hashVoucherCode(normalizeVoucherCode(typed)!)).toBe(hashVoucherCode(canonical));
        },
      ),
    );
  });

  it('reads the letters people confuse with digits as the digits', () => {
    expect(normalizeVoucherCode('OOOO-IIII-LLLL-oooo-illi')).toBe('00001111111100001111');
  });

  it.each([
    ['', undefined],
    ['ABCD-EFGH', undefined],
    ['ABCD-EFGH-JKMN-PQRS-TVWX-Y', undefined],
    ['ABCD-EFGH-JKMN-PQRS-TVWU', undefined], // U is not in the alphabet
    ['ABCD_EFGH_JKMN_PQRS_TVWX', undefined], // underscores are not dashes
  ])('%j is no code', (typed, want) => {
    expect(normalizeVoucherCode(typed)).toBe(want);
  });

  it('tells an empty field (nothing but separators) from a wrong code', () => {
    for (const blank of ['', ' ', '\u2013 \u00A0\u2014', '\u200B'])
      expect(isBlankVoucherCode(blank)).toBe(true);
    for (const typed of ['A', 'ABCD-EFGH', '_']) expect(isBlankVoucherCode(typed)).toBe(false);
  });
});
