/**
 * bench/expiry: a site with 50,000 members and 2,000 IQs reaches the end of its term. Prints the SQL
 * statements the expiry activity issues (constant, whatever the size) and the wall time.
 * Run: npx tsx bench/expiry.ts [members] [iqs]
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { drizzle } from 'drizzle-orm/postgres-js';
import { createSubscriptionActivities } from '../activities/subscription';
import { applyMigrations } from '../db/client';
import { postgresAt } from '../db/connection-url';
import { type Mailer, refusingMailer } from '../emails/mailer';
import { noopGatewayClient } from '../gateway/client';
import { ensureDatabase } from '../infra/create-database';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';

const members = Number(process.argv[2] ?? 50_000);
const devices = Number(process.argv[3] ?? 2_000);

const workDir = await mkdtemp(join(tmpdir(), 'ks-bench-expiry-'));
await chmod(workDir, 0o755);
const pg = await startEmbeddedPostgres({ dataDir: join(workDir, 'pg') });
try {
  const url = await ensureDatabase(pg.url, 'bench');
  await applyMigrations(url);
  let statements = 0;
  let counting = false;
  const sql = postgresAt(url, {
    max: 4,
    onnotice: () => {},
    debug: () => {
      if (counting) statements++;
    },
  });
  const db = drizzle(sql, { casing: 'snake_case' });

  const [site] =
    await sql`insert into sites (name, subscription_status) values ('Bench site', 'active') returning id`;
  const siteId = site!.id as string;
  await sql`insert into profiles (email, name, password_hash, email_confirmed_at)
    select 'bench' || i || '@example.test', 'Bench ' || i, 'x', now() from generate_series(1, ${members}) i`;
  await sql`insert into memberships (site_id, profile_id, role, subscribed, subscribed_at)
    select ${siteId}, id, case when row_number() over () = 1 then 'owner'::site_role else 'user'::site_role end, true, now()
    from profiles`;
  await sql`insert into access_methods (site_id, profile_id, kind) select ${siteId}, profile_id, 'remote' from memberships`;
  await sql`insert into iqs (site_id, serial, model, secret_hash, subscribed, subscribed_at)
    select ${siteId}, 'IQ-' || i, 'IQ2', 'x', true, now() from generate_series(1, ${devices}) i`;
  const [voucher] =
    await sql`insert into vouchers (code_hash, users_limit, iqs_limit, duration_days, redeemed_at)
    values ('bench', ${members}, ${devices}, 365, now()) returning id`;
  const [term] =
    await sql`insert into subscription_terms (site_id, voucher_id, request_id, starts_at, ends_at, users_limit, iqs_limit)
    values (${siteId}, ${voucher!.id}, 'bench', now() - interval '365 days', now(), ${members}, ${devices}) returning id`;

  const mailer: Mailer = {
    ...refusingMailer('the expiry bench only sends'),
    send: async () => ({ id: 'unused', duplicate: false }),
  };
  const activities = createSubscriptionActivities({ db, mailer, gateway: noopGatewayClient });
  counting = true;
  const started = performance.now();
  // In an activity context, as the worker runs it (the activity logs through it).
  const { expired }: { expired: boolean } = await new MockActivityEnvironment().run(
    activities.expireSubscription,
    {
      siteId,
      termId: term!.id as string,
      nowMs: Date.now(),
    },
  );
  const wallMs = performance.now() - started;
  counting = false;

  const [left] = await sql`select
      (select count(*)::int from memberships where site_id = ${siteId} and subscribed) as members,
      (select count(*)::int from iqs where site_id = ${siteId} and subscribed) as iqs,
      (select count(*)::int from access_methods where site_id = ${siteId} and status = 'active') as access`;
  console.log(`bench/expiry: ${members} members, ${devices} IQs`);
  console.log(`  expired:                 ${expired}`);
  console.log(`  SQL statements issued:   ${statements} (including BEGIN/COMMIT)`);
  console.log(`  wall time:               ${wallMs.toFixed(0)} ms`);
  console.log(`  still subscribed after:  ${left!.members} members, ${left!.iqs} IQs (expected 0, 0)`);
  console.log(`  access methods kept:     ${left!.access} of ${members}`);
  await sql.end();
} finally {
  await pg.stop();
  await rm(workDir, { recursive: true, force: true });
}
