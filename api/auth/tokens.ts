import { sign, verify } from 'hono/jwt';

const TOKEN_TTL_SECONDS = 12 * 60 * 60;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Bearer tokens: HS256 JWTs carrying only the profile id, expiring after 12 hours. */
export async function issueBearerToken(profileId: string, secret: string, now: Date): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return sign({ sub: profileId, iat, exp: iat + TOKEN_TTL_SECONDS }, secret, 'HS256');
}

export async function verifyBearerToken(token: string, secret: string): Promise<string | null> {
  try {
    const payload = await verify(token, secret, 'HS256');
    // Only a UUID can name a profile; anything else would reach the database as a malformed id.
    return typeof payload.sub === 'string' && UUID.test(payload.sub) ? payload.sub : null;
  } catch {
    return null;
  }
}
