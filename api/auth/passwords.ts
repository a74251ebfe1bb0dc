import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { problem } from '../problem';
import { createWorkQueue, QueueFull } from './work-queue';

const scrypt = promisify(scryptCb) as (
  pw: string,
  salt: Buffer,
  len: number,
  opts: object,
) => Promise<Buffer>;

// scrypt is memory-hard: N=2^15, r=8 uses 32 MiB per hash.
const PARAMS = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_LENGTH = 32;

/**
 * A6: password hashes run at most on half the cores at once, the rest waiting in a bounded queue, so
 * a storm of logins cannot starve every other request of CPU; past the queue a request is answered
 * 503 with Retry-After at once instead of waiting for minutes.
 */
const hashing = createWorkQueue({
  concurrency: Math.max(1, Math.floor(availableParallelism() / 2)),
  maxWaiting: 64,
});

async function queued<T>(task: () => Promise<T>): Promise<T> {
  try {
    return await hashing.run(task);
  } catch (error) {
    if (!(error instanceof QueueFull)) throw error;
    throw problem(
      'temporarily_unavailable',
      `Too many passwords are being checked at once; try again in ${error.retryAfterSeconds} seconds.`,
      { headers: { 'retry-after': String(error.retryAfterSeconds) } },
    );
  }
}

export function hashPassword(password: string): Promise<string> {
  return queued(async () => {
    const salt = randomBytes(16);
    const key = await scrypt(password, salt, KEY_LENGTH, PARAMS);
    return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
  });
}

export function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return Promise.resolve(false);
  const expected = Buffer.from(key, 'base64');
  return queued(async () => {
    const actual = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
      N: Number(n),
      r: Number(r),
      p: Number(p),
      maxmem: PARAMS.maxmem,
    });
    return timingSafeEqual(actual, expected);
  });
}

/**
 * A hash of no one's password (a random key, not derived from any password): checking against it
 * takes as long as a real check (A4), and it matches nothing.
 */
export const noOnesPasswordHash = () =>
  `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${randomBytes(16).toString('base64')}$${randomBytes(KEY_LENGTH).toString('base64')}`;

const dummyHash = noOnesPasswordHash();

/** Spends the same time as a real check, so a login for an unknown email is not faster; always false. */
export async function burnPasswordCheck(password: string): Promise<false> {
  await verifyPassword(password, dummyHash);
  return false;
}
