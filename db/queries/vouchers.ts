import { and, inArray, isNull } from 'drizzle-orm';
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

/** Vouchers of these codes, each unless it exists already: the same batch written again adds none. */
export async function insertVouchersOnce(db: DbOrTx, spec: VoucherSpec, codes: string[]): Promise<void> {
  await db
    .insert(vouchers)
    .values(codes.map((code) => ({ ...spec, codeHash: hashVoucherCode(normalizeVoucherCode(code)!) })))
    .onConflictDoNothing({ target: vouchers.codeHash });
}

/** Of these typed codes, those whose voucher exists and is not redeemed yet, in the order given. */
export async function stillRedeemable(db: DbOrTx, codes: string[]): Promise<string[]> {
  const hashOf = new Map(codes.map((code) => [code, hashVoucherCode(normalizeVoucherCode(code) ?? code)]));
  if (codes.length === 0) return [];
  const rows = await db
    .select({ codeHash: vouchers.codeHash })
    .from(vouchers)
    .where(and(inArray(vouchers.codeHash, [...hashOf.values()]), isNull(vouchers.redeemedAt)));
  const open = new Set(rows.map((r) => r.codeHash));
  return codes.filter((code) => open.has(hashOf.get(code)!));
}
