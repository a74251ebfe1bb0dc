import { generateVoucherCode, hashVoucherCode, normalizeVoucherCode } from '../../domain/voucher-codes';
import type { DbOrTx } from '../client';
import { vouchers } from '../schema';

export interface VoucherSpec {
  usersLimit: number;
  iqsLimit: number;
  durationDays: number;
  redeemBy?: Date;
  createdBy?: string;
}

/** Issues a batch; the codes are returned once and only their hashes are kept. */
export async function issueVouchers(db: DbOrTx, spec: VoucherSpec, count: number) {
  const codes = Array.from({ length: count }, generateVoucherCode);
  const rows = await db
    .insert(vouchers)
    .values(codes.map((code) => ({ ...spec, codeHash: hashVoucherCode(normalizeVoucherCode(code)!) })))
    .returning({ id: vouchers.id });
  return rows.map((row, i) => ({ id: row.id, code: codes[i]! }));
}
