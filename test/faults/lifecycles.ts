/**
 * The two lifecycles the fault tests drive against a worker running as a real process (see
 * test/support/worker-process.ts), and their end states with ids normalized, so that a run with a
 * fault can be compared with an undisturbed one.
 *
 * The rollout driver (`runRollout`) adds a device gateway (in this process) and simulated IQs.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { expect, vi } from 'vitest';
import { createApp } from '../../api/app';
import { hashPassword } from '../../api/auth/passwords';
import type { Database } from '../../db/client';
import { insertProfile, updateProfile } from '../../db/queries/profiles';
import { issueVouchers } from '../../db/queries/vouchers';
import { accessMethods, iqs, locks, memberships, sites } from '../../db/schema';
import { hashVoucherCode, normalizeVoucherCode } from '../../domain/voucher-codes';
import { createMailer } from '../../emails/mailer';
import { noopGatewayClient } from '../../gateway/client';
import { startGateway } from '../../gateway/server';
import { startFleet } from '../../iq-sim/fleet';
import { createNotificationRelay } from '../../outbox/notification-relay';
import {
  advanceSandboxClock,
  querySubscriptionState,
  redeemVoucher,
} from '../../workflows/client/subscription';
import { profileDeletionWorkflowId, rolloutWorkflowId, subscriptionWorkflowId } from '../../workflows/ids';
import { LOOPBACK_FLEET_GUARD, seedSiteWithIqs } from '../gateway/helpers';
import { WorkerProcess } from '../support/worker-process';
import type { ResendStandIn } from './resend-stand-in';

const DAY_S = 86_400;
const BASE_URL = 'http://ks.test';
const TOKEN_SECRET = 'fault-test-secret-that-is-long-enough-0123456789';

export interface FaultContext {
  database: Database & { url: string };
  temporal: Client;
  temporalAddress: string;
  workflowBundlePath: string;
  standIn: ResendStandIn;
  supportToken: string;
  close(): Promise<void>;
}

export async function faultContext(opts: {
  database: Database & { url: string };
  temporalAddress: string;
  workflowBundlePath: string;
  standIn: ResendStandIn;
}): Promise<FaultContext> {
  const connection = await Connection.connect({ address: opts.temporalAddress });
  const temporal = new Client({ connection });
  const ctx: FaultContext = {
    ...opts,
    temporal,
    supportToken: '',
    close: () => connection.close(),
  };
  const support = await newProfile(ctx, 'Support Person');
  await updateProfile(ctx.database.db, support.id, { platformRole: 'support' });
  const res = await appFor(ctx, 'unused').request('/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: support.email, password: 'correct horse battery' }),
  });
  expect(res.status).toBe(200);
  ctx.supportToken = ((await res.json()) as { token: string }).token;
  return ctx;
}

/** The HTTP API in-process, starting workflows on `taskQueue`. */
function appFor(ctx: FaultContext, taskQueue: string) {
  return createApp({
    db: ctx.database.db,
    temporal: ctx.temporal,
    mailer: createMailer({ db: ctx.database.db, from: 'KS Cloud <api@ks.test>' }),
    gateway: noopGatewayClient,
    // Nothing here records a notifiable event; the relay is what the app needs to be whole.
    notifications: createNotificationRelay({ db: ctx.database.db, temporal: ctx.temporal, taskQueue }),
    env: {
      KS_MODE: 'development',
      PUBLIC_BASE_URL: BASE_URL,
      TOKEN_SECRET,
      TEMPORAL_TASK_QUEUE: taskQueue,
    },
    now: () => new Date(),
  });
}

let passwordHash: Promise<string> | undefined;
async function newProfile(ctx: FaultContext, name: string) {
  passwordHash ??= hashPassword('correct horse battery');
  const profile = await insertProfile(ctx.database.db, {
    email: `${randomUUID()}@example.test`,
    name,
    passwordHash: await passwordHash,
    emailConfirmedAt: new Date(),
  });
  if (!profile) throw new Error('profile exists');
  return profile;
}

async function newSite(ctx: FaultContext, ownerId: string, sandbox: boolean) {
  const [site] = await ctx.database.db
    .insert(sites)
    .values({ name: `Site ${randomUUID().slice(0, 8)}`, timezone: 'UTC', sandbox })
    .returning();
  await ctx.database.db
    .insert(memberships)
    .values({ siteId: site!.id, profileId: ownerId, role: 'owner', masterKey: true });
  await ctx.database.db
    .insert(accessMethods)
    .values({ siteId: site!.id, profileId: ownerId, kind: 'remote' });
  return site!;
}

async function addMember(ctx: FaultContext, siteId: string, profileId: string) {
  await ctx.database.db.insert(memberships).values({ siteId, profileId, role: 'user' });
  await ctx.database.db.insert(accessMethods).values({ siteId, profileId, kind: 'remote' });
}

/**
 * Waits until the email with this key is recorded as sent; returns its plain text as the stand-in
 * received it (a sent row keeps no body).
 */
async function emailSent(ctx: FaultContext, key: string): Promise<string> {
  return vi.waitFor(
    async () => {
      const [row] = await ctx.database.sql`select status from sent_emails where idempotency_key = ${key}`;
      const delivered = ctx.standIn.deliveries.find((d) => d.key === key);
      if (row?.status !== 'sent' || !delivered) throw new Error(`email ${key} not sent yet`);
      return delivered.text;
    },
    { timeout: 90_000, interval: 200 },
  );
}

/**
 * A killed worker's started activities are only retried after their start-to-close timeout (30 s
 * for subscriptions, 1 min for deletions): what Temporal does when a worker vanishes. The harness
 * stands in for that timeout and fails those attempts at once, so the retry (the thing under test)
 * comes in seconds; only attempts of the run's own workflow, whose only worker is dead, are failed.
 */
async function failStartedActivities(temporal: Client, workflowId: string | undefined): Promise<void> {
  if (!workflowId) return;
  const handle = temporal.workflow.getHandle(workflowId);
  const described = await handle.describe().catch(() => undefined);
  for (const activity of described?.raw.pendingActivities ?? []) {
    // PENDING_ACTIVITY_STATE_STARTED: handed to the (now dead) worker.
    if (Number(activity.state) !== 2 || !activity.activityId) continue;
    await temporal.activity
      .fail(
        { workflowId, runId: described!.runId, activityId: activity.activityId },
        new Error('worker process killed (the test stands in for the start-to-close timeout)'),
      )
      .catch(() => {});
  }
}

export interface RunResult {
  summary: unknown;
  /** Crash points the worker reported (one for a kill run, none for an undisturbed one). */
  crashes: string[];
  starts: number;
  ms: number;
  /** Activity attempts that failed in the worker processes (as the SDK logged them). */
  failedAttempts: number;
}

function workerFor(ctx: FaultContext, taskQueue: string, label: string) {
  return new WorkerProcess({
    databaseUrl: ctx.database.url,
    temporalAddress: ctx.temporalAddress,
    taskQueue,
    workflowBundlePath: ctx.workflowBundlePath,
    resend: { baseUrl: ctx.standIn.baseUrl, apiKey: ctx.standIn.apiKey },
    label,
  });
}

/**
 * Subscription lifecycle on a sandbox site, driven fast by its clock: redeem a 30-day voucher
 * (receipt), then +3 days (reminder 28), +21 (reminder 7), +5 (reminder 1), +2 (expiry and its email).
 * `during` runs between steps (dependency faults).
 */
export async function runSubscription(
  ctx: FaultContext,
  opts: {
    crash?: string | undefined;
    during?: (
      step: 'redeemed' | 'reminded28' | 'reminded7' | 'reminded1',
      run: () => Promise<void>,
    ) => Promise<void>;
  } = {},
): Promise<RunResult> {
  const started = Date.now();
  const trace = tracer(started, `sub ${opts.crash ?? 'clean'}`);
  const { db, sql } = ctx.database;
  const taskQueue = `faults-${randomUUID()}`;
  const owner = await newProfile(ctx, 'Sam Owner');
  const site = await newSite(ctx, owner.id, true);
  for (let i = 0; i < 2; i++) await addMember(ctx, site.id, (await newProfile(ctx, `Member ${i}`)).id);
  for (let i = 0; i < 2; i++) {
    const [iq] = await db
      .insert(iqs)
      .values({ siteId: site.id, serial: `IQ-${randomUUID()}`, model: 'IQ2', secretHash: 'unused' })
      .returning();
    await db.insert(locks).values({ siteId: site.id, iqId: iq!.id, name: 'Door' });
  }
  const [v] = await issueVouchers(db, { usersLimit: 2, iqsLimit: 1, durationDays: 30 }, 1);
  const codeHash = hashVoucherCode(normalizeVoucherCode(v!.code)!);
  const workflowId = subscriptionWorkflowId(site.id);
  trace('fixtures');

  const worker = workerFor(ctx, taskQueue, `sub ${opts.crash ?? 'clean'}`);
  await worker.startSupervised({
    crash: opts.crash,
    beforeRestart: () => failStartedActivities(ctx.temporal, workflowId),
  });
  trace('worker ready');
  let termId = '';
  try {
    const result = await redeemVoucher(ctx.temporal, taskQueue, site.id, {
      codeHash,
      requestId: randomUUID(),
      actorProfileId: owner.id,
    });
    if (!result.ok) throw new Error(`redemption failed: ${result.code}`);
    termId = result.term.id;
    trace('redeemed');
    const firstRun = (await ctx.temporal.workflow.getHandle(workflowId).describe()).runId;
    await emailSent(ctx, `receipt:${termId}`);
    trace('receipt');
    const steps = [
      ['redeemed', 3, `reminder:${termId}:28d`],
      ['reminded28', 21, `reminder:${termId}:7d`],
      ['reminded7', 5, `reminder:${termId}:1d`],
      ['reminded1', 2, `expired:${termId}`],
    ] as const;
    for (const [step, days, key] of steps) {
      const advance = async () => {
        await advanceSandboxClock(ctx.temporal, taskQueue, site.id, days * DAY_S);
      };
      if (opts.during) await opts.during(step, advance);
      else await advance();
      trace(`advanced ${days}`);
      await emailSent(ctx, key);
      trace(key);
    }
    // The expired email is the last activity; then the workflow continues as new, expired.
    await vi.waitFor(
      async () => {
        const run = await ctx.temporal.workflow.getHandle(workflowId).describe();
        expect(run.runId).not.toBe(firstRun);
        expect((await querySubscriptionState(ctx.temporal, site.id)).status).toBe('expired');
      },
      { timeout: 90_000, interval: 250 },
    );
    trace('expired');
  } catch (error) {
    throw new Error(`${String(error)}\n${worker.log()}`);
  } finally {
    await worker.stop();
  }

  const norm = (s: string) => s.replaceAll(termId, 'T');
  const [siteRow] =
    await sql`select subscription_status, clock_offset_seconds from sites where id = ${site.id}`;
  const terms = await sql`select voucher_id, extract(epoch from ends_at - starts_at)::int as seconds,
      users_limit, iqs_limit, carried_over_seconds, replaced_at is not null as replaced
    from subscription_terms where site_id = ${site.id}`;
  const [vouchers] = await sql`select
      count(*) filter (where redeemed_site_id = ${site.id})::int as claimed,
      count(*) filter (where redeemed_site_id = ${site.id} and not exists
        (select 1 from subscription_terms t where t.voucher_id = v.id))::int as claimed_without_term
    from vouchers v where id = ${v!.id}`;
  const members = await sql`select role, subscribed from memberships where site_id = ${site.id}
    order by role, subscribed`;
  const iqRows = await sql`select subscribed from iqs where site_id = ${site.id} order by subscribed`;
  const events = await sql`select type from events where site_id = ${site.id} order by type`;
  const emails = await sql`select idempotency_key, template, status, to_address = ${owner.email} as to_owner
    from sent_emails where idempotency_key like ${`%${termId}%`} order by idempotency_key`;
  return {
    summary: {
      site: {
        status: siteRow?.subscription_status,
        clockDays: Number(siteRow?.clock_offset_seconds) / DAY_S,
      },
      terms: terms.map((t) => ({ ...t, voucher_id: t.voucher_id === v!.id ? 'V' : t.voucher_id })),
      vouchers,
      members: members.map((m) => ({ ...m })),
      iqs: iqRows.map((r) => r.subscribed),
      events: events.map((e) => e.type),
      sentEmails: emails.map((e) => ({ ...e, idempotency_key: norm(e.idempotency_key) })),
      delivered: Object.fromEntries(
        [...ctx.standIn.deliveredCount((k) => k.includes(termId))].map(([k, n]) => [norm(k), n]),
      ),
    },
    crashes: worker.crashes,
    starts: worker.starts,
    ms: Date.now() - started,
    failedAttempts: worker.failedActivityAttempts,
  };
}

/**
 * Profile deletion of a person in two sites of other owners: filed through the API, both owners
 * approve through their consent links, the profile is deleted and the goodbye email goes out.
 */
export async function runDeletion(
  ctx: FaultContext,
  opts: { crash?: string | undefined } = {},
): Promise<RunResult> {
  const started = Date.now();
  const { sql } = ctx.database;
  const taskQueue = `faults-${randomUUID()}`;
  const app = appFor(ctx, taskQueue);
  const person = await newProfile(ctx, `Ada Deletable ${randomUUID().slice(0, 8)}`);
  const siteIds: string[] = [];
  for (let i = 0; i < 2; i++) {
    const owner = await newProfile(ctx, `Owner ${i}`);
    const site = await newSite(ctx, owner.id, false);
    await addMember(ctx, site.id, person.id);
    siteIds.push(site.id);
  }
  let workflowId: string | undefined;
  const worker = workerFor(ctx, taskQueue, `del ${opts.crash ?? 'clean'}`);
  await worker.startSupervised({
    crash: opts.crash,
    beforeRestart: () => failStartedActivities(ctx.temporal, workflowId),
  });
  let requestId = '';
  try {
    const filed = await app.request('/support/profile-deletions', {
      method: 'POST',
      headers: { authorization: `Bearer ${ctx.supportToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: person.email }),
    });
    expect(filed.status).toBe(202);
    requestId = ((await filed.json()) as { id: string }).id;
    workflowId = profileDeletionWorkflowId(requestId);
    for (const siteId of siteIds) {
      const text = await emailSent(ctx, `deletion-consent-request:${requestId}:${siteId}`);
      const token = new RegExp(`${BASE_URL}/consents/([A-Za-z0-9_-]{43})`).exec(text)?.[1];
      if (!token) throw new Error(`no consent link in ${text}`);
      const answered = await app.request(`/consents/${token}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'decision=approve',
      });
      expect(answered.status).toBe(200);
    }
    const outcome = await ctx.temporal.workflow.getHandle(workflowId).result();
    expect(outcome).toEqual({ status: 'completed' });
  } catch (error) {
    throw new Error(`${String(error)}\n${worker.log()}`);
  } finally {
    await worker.stop();
  }

  const norm = (s: string) =>
    siteIds.reduce((out, id, i) => out.replaceAll(id, `S${i + 1}`), s.replaceAll(requestId, 'R'));
  const requests =
    await sql`select status, profile_id is null as profile_cleared, finished_at is not null as finished
    from deletion_requests where id = ${requestId}`;
  const consents = await sql`select site_id, decision, token_used_at is not null as token_used
    from deletion_consents where request_id = ${requestId} order by site_id`;
  const [profile] = await sql`select
      (select count(*)::int from profiles where id = ${person.id}) as profiles,
      (select count(*)::int from memberships where profile_id = ${person.id}) as memberships,
      (select count(*)::int from access_methods where profile_id = ${person.id}) as access_methods,
      (select count(*)::int from sent_emails where to_address = ${person.email}) as emails_kept`;
  const emails = await sql`select idempotency_key, template, status from sent_emails
    where idempotency_key like ${`%${requestId}%`} order by idempotency_key`;
  return {
    summary: {
      requests: requests.map((r) => ({ ...r })),
      consents: consents
        .map((c) => ({ ...c, site_id: norm(c.site_id) }))
        .sort((a, b) => a.site_id.localeCompare(b.site_id)),
      person: profile,
      sentEmails: emails
        .map((e) => ({ ...e, idempotency_key: norm(e.idempotency_key) }))
        .sort((a, b) => a.idempotency_key.localeCompare(b.idempotency_key)),
      delivered: Object.fromEntries(
        [...ctx.standIn.deliveredCount((k) => k.includes(requestId))]
          .map(([k, n]) => [norm(k), n] as const)
          .sort(([a], [b]) => a.localeCompare(b)),
      ),
    },
    crashes: worker.crashes,
    starts: worker.starts,
    ms: Date.now() - started,
    failedAttempts: worker.failedActivityAttempts,
  };
}

const ROLLOUT_IQS = 12;
const ROLLOUT_POLICY = {
  // Waves of 2, 4 and 6: the canary, a sliding wave that hands back once its IQs started, the last.
  canarySize: 2,
  growthFactor: 2,
  maxConcurrent: 20,
  minFinishedBeforeAbort: 100,
  inProgressTimeoutSeconds: 20,
  retries: 2,
  offlineDeadlineSeconds: 120,
};
let releases = 0;

/**
 * Firmware rollout over 12 simulated IQs (waves of 2, 4 and 6) through a gateway in this process:
 * define a release, start the rollout through the API, wait for the workflow's result. The summary:
 * every target's final state and attempts, the update commands each IQ received, the report email.
 */
export async function runRollout(
  ctx: FaultContext,
  opts: { crash?: string | undefined } = {},
): Promise<RunResult> {
  const started = Date.now();
  const trace = tracer(started, `rollout ${opts.crash ?? 'clean'}`);
  const { db, sql } = ctx.database;
  const taskQueue = `faults-${randomUUID()}`;
  const app = appFor(ctx, taskQueue);
  const api = async (path: string, body: unknown) => {
    const res = await app.request(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${ctx.supportToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const site = await seedSiteWithIqs(db, ROLLOUT_IQS, { name: 'Rollout faults' });
  const gateway = await startGateway({
    guard: LOOPBACK_FLEET_GUARD,
    db,
    sql,
    ports: [0],
    instanceId: `faults-${randomUUID().slice(0, 8)}`,
    heartbeatSeconds: 1,
    host: '127.0.0.1',
  });
  const fleet = await startFleet({
    credentials: site.iqs.map((iq) => iq.credentials),
    ports: gateway.ports,
    host: '127.0.0.1',
    update: { durationMs: 300 },
  });
  trace('fleet connected');
  const version = `7.${process.pid}.${releases++}-${randomUUID().slice(0, 8)}`;
  let rolloutId = '';
  const worker = workerFor(ctx, taskQueue, `rollout ${opts.crash ?? 'clean'}`);
  try {
    expect(fleet.failed).toEqual([]);
    const releaseId = await api('/support/firmware-releases', {
      model: 'IQ2',
      version,
      url: `ftps://files.ks.test/iq2-${version}.bin`,
      sha256: createHash('sha256').update(version).digest('hex'),
      sizeBytes: 1024,
    });
    // The wave activities run in the waves' child workflows: the harness fails their started attempts too.
    await worker.startSupervised({
      crash: opts.crash,
      beforeRestart: async () => {
        if (!rolloutId) return;
        const workflowId = rolloutWorkflowId(rolloutId);
        await failStartedActivities(ctx.temporal, workflowId);
        for (let wave = 0; wave < 4; wave++) {
          await failStartedActivities(ctx.temporal, `${workflowId}-wave-${wave}`);
        }
      },
    });
    trace('worker ready');
    rolloutId = await api('/support/rollouts', {
      releaseId,
      target: { siteIds: [site.siteId] },
      policy: ROLLOUT_POLICY,
    });
    const end = await ctx.temporal.workflow.getHandle(rolloutWorkflowId(rolloutId)).result();
    expect(end).toMatchObject({ status: 'completed' });
    trace('rollout completed');
    await emailSent(ctx, `rollout-report:${rolloutId}`);
    trace('report sent');
  } catch (error) {
    throw new Error(`${String(error)}\n${worker.log()}`);
  } finally {
    await worker.stop();
    await fleet.stop();
    await gateway.stop();
    trace('stopped');
  }

  const targets = await sql`select state, attempts, error from rollout_targets
    where rollout_id = ${rolloutId} order by state, attempts`;
  const [rollout] = await sql`select status, abort_reason from rollouts where id = ${rolloutId}`;
  const firmware = await sql`select firmware from iqs where site_id = ${site.siteId}`;
  const emails = await sql`select idempotency_key, template, status from sent_emails
    where idempotency_key like ${`%${rolloutId}%`} order by idempotency_key`;
  const norm = (s: string) => s.replaceAll(rolloutId, 'R');
  return {
    summary: {
      rollout: { ...rollout },
      targets: targets.map((t) => ({ ...t })),
      onVersion: firmware.filter((r) => r.firmware === version).length,
      updatesPerIq: fleet.online.map((iq) => iq.received.filter((m) => m.type === 'update').length).sort(),
      sentEmails: emails.map((e) => ({ ...e, idempotency_key: norm(e.idempotency_key) })),
      delivered: Object.fromEntries(
        [...ctx.standIn.deliveredCount((k) => k.includes(rolloutId))].map(([k, n]) => [norm(k), n]),
      ),
    },
    crashes: worker.crashes,
    starts: worker.starts,
    ms: Date.now() - started,
    failedAttempts: worker.failedActivityAttempts,
  };
}

/** KS_FAULT_TRACE=1: prints when each step of a run was reached. */
function tracer(started: number, label: string) {
  return (step: string) => {
    if (process.env.KS_FAULT_TRACE) console.log(`[trace] ${label} +${Date.now() - started} ms ${step}`);
  };
}

/** Runs `tasks` with at most `width` at a time, results in input order. */
export async function pool<T, R>(items: readonly T[], width: number, task: (item: T) => Promise<R>) {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await task(items[i]!).then(
          (value) => ({ status: 'fulfilled', value }) as const,
          (reason: unknown) => ({ status: 'rejected', reason }) as const,
        );
      }
    }),
  );
  return results;
}
