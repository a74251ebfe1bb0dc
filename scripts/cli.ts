import { parseArgs } from 'node:util';
import { z } from 'zod';
import { connectDatabase, type Db } from '../db/client';
import { QueryFailure, withoutQueryParams } from '../db/errors';
import { grantPlatformRole, type PlatformRole, revokePlatformRole } from '../operations/platform-roles';

const usage = `usage: npm run cli -- <command>   (needs DATABASE_URL)
  grant-role --email <email> --role support|installer
      make a profile staff; its email must be confirmed. Replaces the role it had.
  revoke-role --email <email>
      take its platform role away (nothing happens when it has none).
  --help
      this text`;

const email = z.email();
const grantArgs = z.object({ email, role: z.enum(['support', 'installer']) });
const revokeArgs = z.object({ email });

async function grant(db: Db, args: { email: string; role: PlatformRole }): Promise<string> {
  const outcome = await grantPlatformRole(db, args.email, args.role);
  if (outcome.kind === 'no_profile') throw new Error('no profile has that email; sign up first');
  if (outcome.kind === 'unconfirmed')
    throw new Error(
      'that profile has not confirmed its email: the person must follow the link in the confirmation ' +
        'email and sign in with their own password first',
    );
  const { profileId, previous } = outcome;
  if (previous === args.role) return `profile ${profileId} already has ${args.role}; nothing changed`;
  return `granted ${args.role} to profile ${profileId}${previous ? ` (replacing ${previous})` : ''}`;
}

async function revoke(db: Db, args: { email: string }): Promise<string> {
  const outcome = await revokePlatformRole(db, args.email);
  if (outcome.kind === 'no_profile') throw new Error('no profile has that email');
  const { profileId, previous } = outcome;
  return previous
    ? `revoked ${previous} from profile ${profileId}`
    : `profile ${profileId} had no platform role; nothing changed`;
}

/** Operator commands for a real deployment, e.g. the first staff account. */
async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { email: { type: 'string' }, role: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) return console.log(usage);
  if (positionals[0] === 'grant-role') return run(grantArgs, values, grant);
  if (positionals[0] === 'revoke-role') return run(revokeArgs, values, revoke);
  throw new Error(usage);
}

/** A command with its validated arguments, against DATABASE_URL; prints what it did. */
async function run<T>(schema: z.ZodType<T>, values: unknown, command: (db: Db, args: T) => Promise<string>) {
  const args = schema.safeParse(values);
  if (!args.success)
    throw new Error(
      `${usage}\n${args.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n')}`,
    );
  const url = z.url().safeParse(process.env.DATABASE_URL);
  if (!url.success) throw new Error('DATABASE_URL is missing or not a URL');
  const database = connectDatabase(url.data, { max: 1 });
  try {
    console.log(await command(database.db, args.data));
  } finally {
    await database.close();
  }
}

/**
 * What went wrong, for the operator. A failed query's message holds its bound values (the email):
 * only its cause is told (connection refused, authentication failed, …).
 */
function messageOf(error: unknown): string {
  const cleaned = withoutQueryParams(error);
  if (cleaned instanceof QueryFailure)
    return `database error (${cleaned.code ?? 'no code'}): ${cleaned.reason}`;
  return cleaned instanceof Error ? cleaned.message : String(cleaned);
}

main().catch((error: unknown) => {
  console.error(messageOf(error));
  process.exitCode = 1;
});
