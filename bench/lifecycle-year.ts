/**
 * bench/lifecycle-year: many sites live through a simulated year on the time-skipping server, each
 * redeeming three vouchers (day 0: 90 days; day 80: 120 days; day 250: 30 days). Prints the reminders
 * the rules call for against those actually sent (must be equal) and the wall time.
 * Run: npx tsx bench/lifecycle-year.ts [sites]
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runtime } from '@temporalio/worker';
import { defaultDatabasePoolSize } from '../config/env';
import { applyMigrations, connectDatabase } from '../db/client';
import { issueVouchers } from '../db/queries/vouchers';
import { memberships, profiles, sites } from '../db/schema';
import { carryOverSeconds, DAY_MS, newTermEnd, pendingReminders, reminderPlan } from '../domain/subscription';
import { hashVoucherCode, normalizeVoucherCode } from '../domain/voucher-codes';
import { createMailer } from '../emails/mailer';
import { noopGatewayClient } from '../gateway/client';
import { ensureDatabase } from '../infra/create-database';
import { startEmbeddedPostgres } from '../infra/embedded-postgres';
import { createTimeSkippingEnv } from '../infra/temporal-servers';
import { createWorker } from '../worker/create-worker';
import { redeemVoucher } from '../workflows/client/subscription';

const siteCount = Number(process.argv[2] ?? 1000);
const plan = [
  { day: 0, durationDays: 90 },
  { day: 80, durationDays: 120 },
  { day: 250, durationDays: 30 },
];
const progressStarted = performance.now();
/** Progress on stderr, so a long run shows where its time goes. */
const progress = (what: string) =>
  process.stderr.write(`  [${((performance.now() - progressStarted) / 1000).toFixed(1)} s] ${what}\n`);
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
Runtime.install({ logger: quiet as never });

/** What the rules call for: each term's reminders before the next redemption (V5), and its expiry if it ran out (V6). */
function expectedEmails(): { reminders: number; expiries: number } {
  let count = 0;
  let expiries = 0;
  let term: { startsAtMs: number; endsAtMs: number } | undefined;
  for (const [i, step] of plan.entries()) {
    const nowMs = step.day * DAY_MS;
    if (term) {
      count += reminderPlan(term).filter((r) => r.atMs < nowMs && r.atMs < term!.endsAtMs).length;
      if (term.endsAtMs <= nowMs) expiries++;
    }
    const carry = carryOverSeconds({
      nowMs,
      current:
        term && term.endsAtMs > nowMs ? { endsAtMs: term.endsAtMs, usersLimit: 10, iqsLimit: 2 } : undefined,
      next: { usersLimit: 10, iqsLimit: 2 },
    });
    term = {
      startsAtMs: nowMs,
      endsAtMs: newTermEnd({ nowMs, durationDays: step.durationDays, carrySeconds: carry }),
    };
    if (i === plan.length - 1) {
      count += pendingReminders(reminderPlan(term), { nowMs, sent: [] }).length;
      expiries++;
    }
  }
  return { reminders: count, expiries };
}

const workDir = await mkdtemp(join(tmpdir(), 'ks-bench-year-'));
await chmod(workDir, 0o755);
const pg = await startEmbeddedPostgres({ dataDir: join(workDir, 'pg') });
const env = await createTimeSkippingEnv();
try {
  const url = await ensureDatabase(pg.url, 'bench');
  await applyMigrations(url);
  const database = connectDatabase(url, { max: defaultDatabasePoolSize() });
  const db = database.db;
  const worker = await createWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: 'bench-year',
    deps: {
      db,
      mailer: createMailer({ db, from: 'bench@ks.test' }),
      gateway: noopGatewayClient,
      publicBaseUrl: 'http://bench.test',
      supportEmail: 'support@bench.test',
    },
  });
  const run = worker.run();
  const owners = await db
    .insert(profiles)
    .values(
      Array.from({ length: siteCount }, (_, i) => ({
        email: `y${i}@bench.test`,
        name: `Y ${i}`,
        passwordHash: 'x',
      })),
    )
    .returning({ id: profiles.id });
  const siteRows = await db
    .insert(sites)
    .values(owners.map((_, i) => ({ name: `Year ${i}` })))
    .returning({ id: sites.id });
  await db
    .insert(memberships)
    .values(siteRows.map((s, i) => ({ siteId: s.id, profileId: owners[i]!.id, role: 'owner' as const })));

  const started = performance.now();
  let day = 0;
  for (const step of plan) {
    await env.sleep((step.day - day) * DAY_MS);
    day = step.day;
    const vouchers = await issueVouchers(
      db,
      { usersLimit: 10, iqsLimit: 2, durationDays: step.durationDays },
      siteCount,
    );
    const batch = 50;
    for (let i = 0; i < siteCount; i += batch) {
      await Promise.all(
        siteRows.slice(i, i + batch).map(async (site, j) => {
          const result = await redeemVoucher(env.client, 'bench-year', site.id, {
            codeHash: hashVoucherCode(normalizeVoucherCode(vouchers[i + j]!.code)!),
            requestId: randomUUID(),
            actorProfileId: owners[i + j]!.id,
          });
          if (!result.ok) throw new Error(`redemption failed: ${result.code}`);
        }),
      );
    }
    progress(`day ${day}: ${siteCount} redemptions done`);
  }
  // Past the last term's end, in steps so every timer's activity runs before time moves on.
  for (let d = day; d < 400; d += 1) {
    await env.sleep(DAY_MS);
    if (d % 25 === 0) progress(`day ${d}`);
  }
  const count = async () => {
    const [row] = await database.sql`select
      (select count(*)::int from sent_emails where template = 'subscription-reminder') as reminders,
      (select count(*)::int from sent_emails where template = 'subscription-expired') as expired`;
    return row as { reminders: number; expired: number };
  };
  const perSite = expectedEmails();
  let sent = await count();
  for (let i = 0; i < 100 && sent.expired < perSite.expiries * siteCount; i++) {
    await new Promise((r) => setTimeout(r, 200));
    sent = await count();
  }
  const wallMs = performance.now() - started;
  const expected = perSite.reminders * siteCount;
  console.log(
    `bench/lifecycle-year: ${siteCount} sites × ${plan.length} vouchers over a simulated year (time-skipping)`,
  );
  console.log(
    `  reminders expected: ${expected}  sent: ${sent.reminders}  ${expected === sent.reminders ? 'EQUAL' : 'DIFFERENT'}`,
  );
  console.log(`  expiry emails:      expected ${perSite.expiries * siteCount}  sent: ${sent.expired}`);
  console.log(`  wall time:          ${(wallMs / 1000).toFixed(1)} s`);
  worker.shutdown();
  await run;
  await database.close();
} finally {
  await env.teardown();
  await pg.stop();
  await rm(workDir, { recursive: true, force: true });
}
