import { parseArgs } from 'node:util';
import { z } from 'zod';
import { connectDatabase } from '../db/client';
import { findProfileByEmail, updateProfile } from '../db/queries/profiles';

const usage = 'usage: npm run cli -- grant-role --email <email> --role support|installer';

/** Operator commands for a real deployment, e.g. the first staff account. Needs DATABASE_URL. */
async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { email: { type: 'string' }, role: { type: 'string' } },
  });
  if (positionals[0] !== 'grant-role') throw new Error(usage);
  const args = z.object({ email: z.email(), role: z.enum(['support', 'installer']) }).safeParse(values);
  if (!args.success)
    throw new Error(
      `${usage}\n${args.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n')}`,
    );
  const url = z.url().safeParse(process.env.DATABASE_URL);
  if (!url.success) throw new Error('DATABASE_URL is missing or not a URL');
  const database = connectDatabase(url.data, { max: 1 });
  try {
    const profile = await findProfileByEmail(database.db, args.data.email);
    if (!profile) throw new Error('no profile has that email; sign up first');
    await updateProfile(database.db, profile.id, { platformRole: args.data.role });
    console.log(`granted ${args.data.role} to profile ${profile.id}`);
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
