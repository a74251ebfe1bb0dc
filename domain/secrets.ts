import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 256 random bits, URL-safe; only its SHA-256 is stored (email links, consent links). */
export function newToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** An IQ's secret: 256 random bits, shown once at registration. */
export const newDeviceSecret = () => randomBytes(32).toString('base64url');

/** Device secrets are stored only as their SHA-256 (hex); they carry ≥128 random bits, so no slow hash is needed. */
export const hashDeviceSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** Timing-safe: the comparison takes as long whatever prefix matches. */
export function deviceSecretMatches(secret: string, secretHash: string): boolean {
  const given = Buffer.from(hashDeviceSecret(secret), 'hex');
  const stored = Buffer.from(secretHash, 'hex');
  return stored.length === given.length && timingSafeEqual(given, stored);
}
