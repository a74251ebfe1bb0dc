import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * PINs as an IQ verifies them offline (K7). The API keeps its own scrypt hash of a PIN; an IQ gets
 * `pinHash` = hex(HMAC-SHA256(key, "<credentialId>:<pin>")) with key = SHA-256(the IQ's device secret),
 * which the cloud stores (`iqs.secret_hash`) and the IQ derives from its secret. A keypad entry costs
 * the IQ one HMAC per PIN on its list; the credential id salts equal PINs apart; and without the
 * device secret (or the database) the hash on the wire cannot be tried against the 10^6 PINs.
 */
export function devicePinKey(deviceSecret: string): Buffer {
  return createHash('sha256').update(deviceSecret).digest();
}

export function devicePinHash(key: Buffer, credentialId: string, pin: string): string {
  return createHmac('sha256', key).update(`${credentialId}:${pin}`).digest('hex');
}

/** Timing-safe: as a device would compare. */
export function devicePinMatches(key: Buffer, credentialId: string, pin: string, pinHash: string): boolean {
  const given = Buffer.from(devicePinHash(key, credentialId, pin), 'hex');
  const stored = Buffer.from(pinHash, 'hex');
  return given.length === stored.length && timingSafeEqual(given, stored);
}
