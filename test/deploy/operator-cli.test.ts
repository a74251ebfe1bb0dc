import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueBearerToken, resolveBearerToken } from '../../api/auth/tokens';
import { findProfileByEmail, insertProfile, signUpProfile } from '../../db/queries/profiles';
import { freePort } from '../../infra/free-port';
import { createTestDatabase } from '../support/database';

/**
 * `npm run cli` as an operator runs it (a process of its own against DATABASE_URL): platform roles are
 * granted only to confirmed profiles, revoked idempotently, a replaced role is named, and a failure
 * tells its cause without the query's values.
 */
let database: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

async function cli(args: string[], databaseUrl = database.url) {
  const env = { ...process.env, DATABASE_URL: databaseUrl };
  try {
    const { stdout, stderr } = await promisify(execFile)('npx', ['tsx', 'scripts/cli.ts', ...args], { env });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

async function confirmedProfile() {
  const email = `${randomUUID()}@example.test`;
  const profile = await insertProfile(database.db, {
    email,
    name: 'Staff Person',
    passwordHash: 'theirs',
    emailConfirmedAt: new Date(),
  });
  return { id: profile!.id, email };
}

const roleOf = async (email: string) => (await findProfileByEmail(database.db, email))?.platformRole;

describe('grant-role', () => {
  it('refuses a profile whose email is not confirmed: its password may be anyone’s who signed up', async () => {
    const email = `${randomUUID()}@example.test`;
    await signUpProfile(database.db, { email, name: 'Someone', passwordHash: 'an attacker’s' });
    const { code, output } = await cli(['grant-role', '--email', email, '--role', 'support']);
    expect(code).toBe(1);
    expect(output).toMatch(/must follow the link in the confirmation email/);
    expect(await roleOf(email)).toBeNull();
  });

  it('names the role a grant replaces', async () => {
    const { id, email } = await confirmedProfile();
    expect((await cli(['grant-role', '--email', email, '--role', 'support'])).output).toBe(
      `granted support to profile ${id}\n`,
    );
    expect((await cli(['grant-role', '--email', email, '--role', 'installer'])).output).toBe(
      `granted installer to profile ${id} (replacing support)\n`,
    );
    expect(await roleOf(email)).toBe('installer');
  });
});

describe('revoke-role', () => {
  it('takes the role away, says which, and changes nothing the second time', async () => {
    const { id, email } = await confirmedProfile();
    await cli(['grant-role', '--email', email, '--role', 'support']);
    expect(await cli(['revoke-role', '--email', email])).toEqual({
      code: 0,
      output: `revoked support from profile ${id}\n`,
    });
    expect(await roleOf(email)).toBeNull();
    expect(await cli(['revoke-role', '--email', email])).toEqual({
      code: 0,
      output: `profile ${id} had no platform role; nothing changed\n`,
    });
  });

  it('is in effect at the next request of a session opened while the role was held', async () => {
    const { id, email } = await confirmedProfile();
    await cli(['grant-role', '--email', email, '--role', 'support']);
    const token = await issueBearerToken(database.db, id, new Date());
    const callerNow = async () =>
      (await resolveBearerToken(database.db, token, new Date(), { kind: 'caller' }))?.caller.platformRole;
    expect(await callerNow()).toBe('support');
    await cli(['revoke-role', '--email', email]);
    expect(await callerNow()).toBeNull();
  });
});

it('tells the cause of a database failure, not the query’s values', async () => {
  const closed = `postgres://ks:secret@127.0.0.1:${await freePort()}/ks`;
  const { code, output } = await cli(
    ['grant-role', '--email', 'owner@example.com', '--role', 'support'],
    closed,
  );
  expect(code).toBe(1);
  expect(output).toMatch(/ECONNREFUSED/);
  expect(output).not.toMatch(/owner@example\.com|Failed query/);
});

it('--help lists both commands', async () => {
  const { code, output } = await cli(['--help']);
  expect(code).toBe(0);
  expect(output).toMatch(/grant-role --email <email> --role support\|installer/);
  expect(output).toMatch(/revoke-role --email <email>/);
});
