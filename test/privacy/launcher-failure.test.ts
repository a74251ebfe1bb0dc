/**
 * What `npm start` and `start:cluster` print when they fail (scripts/launcher.ts `fail`): every cause
 * of the error, one line. A failed query (the demo seed's, a migration's) holds its bound values in
 * its message: emails, names, password hashes.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('the launcher failing on a query', () => {
  it('prints its SQL and reason, not its bound values', () => {
    const script = `
      import { DrizzleQueryError } from 'drizzle-orm/errors';
      import { createLauncher } from './scripts/launcher.ts';
      const launcher = createLauncher({ tag: 'test', defaultDataDir: '.data/launcher-failure-test' });
      const cause = Object.assign(new Error('duplicate key value violates unique constraint "profiles_email_key"'), { code: '23505' });
      launcher.fail(new Error('seeding the demo failed', {
        cause: new DrizzleQueryError('insert into profiles (email, name) values ($1, $2)', ['quinn@launcher-secret.test', 'Quinn Launchermann'], cause),
      }));
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      encoding: 'utf8',
      timeout: 60_000,
    });
    const output = run.stdout + run.stderr;
    expect(run.status, output).toBe(1);
    expect(output).toContain('seeding the demo failed');
    expect(output).toContain('insert into profiles');
    expect(output).not.toContain('quinn@launcher-secret.test');
    expect(output).not.toContain('Quinn Launchermann');
  });
});
