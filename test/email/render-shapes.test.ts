/**
 * emails/shapes.ts: a template with slots is rendered once per shape and each email's texts are
 * filled in. Every filled email must be the same to the byte as its direct rendering, whatever the
 * texts hold (markup, quotes, whitespace, any Unicode, the markers' own characters, lengths that cut
 * the preview), and emails that differ only in their texts must not be rendered again.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderDirectly, renderEmail } from '../../emails/render';
import { createShapeRenderer } from '../../emails/shapes';
import { type TemplateProps, templates } from '../../emails/templates';

type ReceiptProps = TemplateProps<'redemption-receipt'>;
const RUNS = Number(process.env.KS_PROPERTY_RUNS ?? 12) * 25;

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({
    unit: fc.constantFrom('a', ' ', '\t', '\n', '\u00a0', '\u200b', '&', '<', '"', "'", '\ue000', '\ue100'),
    maxLength: 12,
  }),
  fc.constantFrom(
    'Head office',
    'Büro <Nord> & "Süd" – 北',
    '14 January 2028 at 10:00 (Europe/Zurich)',
    'x'.repeat(160),
    '😀 Café',
  ),
);
const limits = { usersLimit: fc.integer({ min: 1, max: 500 }), iqsLimit: fc.integer({ min: 1, max: 50 }) };
const receipt: fc.Arbitrary<ReceiptProps> = fc.record(
  {
    siteName: text,
    endsOn: text,
    ...limits,
    voucherSeconds: fc.nat(3 * 365 * 86_400),
    carriedSeconds: fc.nat(365 * 86_400),
    sandbox: fc.record({ siteTime: text }),
    previous: fc.record(
      {
        remainingSeconds: fc.nat(365 * 86_400),
        ...limits,
        scaledBy: fc.record({
          limit: fc.constantFrom('users' as const, 'iqs' as const),
          from: fc.integer({ min: 1, max: 100 }),
          to: fc.integer({ min: 1, max: 100 }),
        }),
      },
      { requiredKeys: ['remainingSeconds', 'usersLimit', 'iqsLimit'] },
    ),
  },
  { requiredKeys: ['siteName', 'endsOn', 'usersLimit', 'iqsLimit', 'voucherSeconds', 'carriedSeconds'] },
);

const renderReceipt = (props: ReceiptProps) => renderDirectly('redemption-receipt', props);
/** A receipt's shapes of their own, to count its renderings. */
const receiptShapes = () =>
  createShapeRenderer(renderReceipt, ['siteName', 'endsOn'], templates['redemption-receipt'].subject);
const receiptOf = (props: Partial<ReceiptProps>): ReceiptProps => ({
  siteName: 'Head office',
  endsOn: '5 December 2027 at 04:00 (UTC)',
  usersLimit: 10,
  iqsLimit: 2,
  voucherSeconds: 365 * 86_400,
  carriedSeconds: 0,
  ...props,
});

describe('emails rendered by shape', () => {
  it('the receipt has slots, and no other template: another one with slots needs its props generated here', () => {
    expect(templates['redemption-receipt'].slots).toEqual(['siteName', 'endsOn']);
    const withSlots = Object.entries(templates).filter(([, t]) => 'slots' in t && t.slots);
    expect(withSlots.map(([name]) => name)).toEqual(['redemption-receipt']);
  });

  it('a generated receipt comes out as its direct rendering, to the byte', async () => {
    await fc.assert(
      fc.asyncProperty(receipt, async (props) => {
        const [filled, direct] = await Promise.all([
          renderEmail('redemption-receipt', props),
          renderReceipt(props),
        ]);
        expect(filled).toEqual(direct);
      }),
      { numRuns: RUNS },
    );
  });

  it('receipts that differ only in their texts are rendered once, and filled alike', async () => {
    const shapes = receiptShapes();
    // Same lengths, other characters, markup among them.
    const names = ['Site <A1>', 'Site & B2', 'Site "C3"', "Site 'D4'", 'Büro Nord'];
    for (const siteName of names) {
      const props = receiptOf({ siteName });
      expect(await shapes.render(props)).toEqual(await renderReceipt(props));
    }
    expect(shapes.stats).toEqual({ direct: 1, filled: names.length });
    // Another length is another shape; texts html-to-text would change are rendered directly.
    await shapes.render(receiptOf({ siteName: 'Longer site name' }));
    await shapes.render(receiptOf({ siteName: 'Two  spaces' }));
    expect(shapes.stats).toEqual({ direct: 3, filled: names.length + 1 });
  });

  it('a prop that is no slot but holds a marker’s character is not taken for a marker', async () => {
    const props = receiptOf({ siteName: 'A', sandbox: { siteTime: 'at \ue100 o’clock' } });
    expect(await renderEmail('redemption-receipt', props)).toEqual(await renderReceipt(props));
  });

  it('a text long enough to cut the preview through its marker is rendered directly', async () => {
    const shapes = receiptShapes();
    const props = receiptOf({ siteName: 'y'.repeat(200) });
    expect(await shapes.render(props)).toEqual(await renderReceipt(props));
    expect(await shapes.render(props)).toEqual(await renderReceipt(props));
    expect(shapes.stats).toEqual({ direct: 3, filled: 0 });
  });
});
