/**
 * The product's worker as a real process for fault tests: `createWorker` with the production
 * activities, configured by environment like `worker/main.ts`, plus an optional crash point.
 *
 *   DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE   as in production
 *   KS_WORKFLOW_BUNDLE   path of the prebuilt workflow bundle (built once per test run)
 *   RESEND_API_KEY       set: emails go through the Resend SDK (to RESEND_BASE_URL, a local stand-in);
 *                        unset: the development mailbox (the sent_emails table)
 *   PUBLIC_BASE_URL, SUPPORT_EMAIL
 *   KS_STICKY_TIMEOUT_MS  workflow cache on, with this sticky schedule-to-start timeout; unset: no
 *                        cache (every workflow task replays from history, no sticky queue to time out)
 *   KS_CRASH             `<when>:<name>:<n>`: the process SIGKILLs itself at the n-th (1-based) time of
 *     before:<activityType>:<n>   an activity is about to run (the task is started on the server)
 *     after:<activityType>:<n>    an activity returned: its side effects are committed, the server
 *                                 has not heard of it (the worst point for exactly-once)
 *     provider:<keyPrefix>:<n>    the email provider accepted an email whose idempotency key starts
 *                                 with keyPrefix, before the mailer recorded it sent
 *     before|after:redemptionRelay:<n>  the redemption relay claimed a queued announcement / sent it,
 *                                 before deleting its row
 *
 * Before dying it writes `[crash] <point>` to stderr so the harness can tell a crash from a bug.
 */
import { writeSync } from 'node:fs';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { Resend } from 'resend';
import { createRedemptionAnnouncer } from '../../activities/subscription';
import { defaultDatabasePoolSize } from '../../config/env';
import { connectDatabase } from '../../db/client';
import { createMailer } from '../../emails/mailer';
import { createGatewayClient } from '../../gateway/client';
import { createRedemptionRelay } from '../../outbox/redemption-relay';
import { createWorker } from '../../worker/create-worker';

// The harness holds our stdin open: when it ends, the test process is gone and so are we.
process.stdin.on('end', () => process.kill(process.pid, 'SIGKILL'));
process.stdin.resume();

const env = process.env;
const required = (name: string): string => {
  const value = env[name];
  if (!value) throw new Error(`worker-entry: ${name} is required`);
  return value;
};

type When = 'before' | 'after' | 'provider';
const crashSpec = env.KS_CRASH ? parseCrash(env.KS_CRASH) : undefined;
const seen = new Map<string, number>();

function parseCrash(spec: string): { when: When; name: string; n: number } {
  const [when, name, n] = spec.split(':');
  if ((when !== 'before' && when !== 'after' && when !== 'provider') || !name || !Number(n)) {
    throw new Error(`worker-entry: bad KS_CRASH ${spec}`);
  }
  return { when, name, n: Number(n) };
}

/** Counts the point and dies there when it is the chosen one. */
function checkpoint(when: When, name: string): void {
  if (!crashSpec || crashSpec.when !== when || crashSpec.name !== name) return;
  const count = (seen.get(name) ?? 0) + 1;
  seen.set(name, count);
  if (count !== crashSpec.n) return;
  writeSync(2, `[crash] ${when}:${name}:${count}\n`);
  process.kill(process.pid, 'SIGKILL');
}

/** Wraps every activity the production worker registers; nothing else about the worker changes. */
const create = Worker.create.bind(Worker);
Worker.create = (options: WorkerOptions) => {
  const activities = Object.fromEntries(
    Object.entries(options.activities ?? {}).map(([type, fn]) => [
      type,
      async (...args: unknown[]) => {
        checkpoint('before', type);
        const result = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
        checkpoint('after', type);
        return result;
      },
    ]),
  );
  return create({ ...options, activities });
};

// As many connections as the worker process keeps (DATABASE_POOL_SIZE's default).
const database = connectDatabase(required('DATABASE_URL'), { max: defaultDatabasePoolSize() });
let resend: Resend | undefined;
if (env.RESEND_API_KEY) {
  // The SDK reads RESEND_BASE_URL when the client is constructed.
  resend = new Resend(env.RESEND_API_KEY);
  const emails = resend.emails;
  const send = emails.send.bind(emails);
  emails.send = async (payload, options) => {
    const answer = await send(payload, options);
    if (answer.data && crashSpec?.when === 'provider') {
      const key = options?.idempotencyKey ?? '';
      if (key.startsWith(crashSpec.name)) checkpoint('provider', crashSpec.name);
    }
    return answer;
  };
}
const mailer = createMailer({ db: database.db, from: 'KS Cloud <faults@ks.test>', resend });
const gateway = createGatewayClient({ db: database.db, sql: database.sql });
// The redemption relay as worker/main.ts runs it (kicked by claims, and a sweep), with its own
// boundaries: before:redemptionRelay (a queued row claimed and its workflow told, no push or receipt
// sent) and after:redemptionRelay (IQ push and receipt done, the row not yet deleted).
const connection = await NativeConnection.connect({ address: required('TEMPORAL_ADDRESS') });
const announce = createRedemptionAnnouncer({ db: database.db, mailer, gateway });
const redemptions = createRedemptionRelay({
  db: database.db,
  temporal: new Client({ connection, namespace: env.TEMPORAL_NAMESPACE ?? 'default' }),
  taskQueue: required('TEMPORAL_TASK_QUEUE'),
  announce: async (row, tx) => {
    checkpoint('before', 'redemptionRelay');
    await announce(row, tx);
    checkpoint('after', 'redemptionRelay');
  },
});
redemptions.start(1_000);
void redemptions.handOver();
const sticky = env.KS_STICKY_TIMEOUT_MS ? Number(env.KS_STICKY_TIMEOUT_MS) : undefined;
const worker = await createWorker({
  connection,
  namespace: env.TEMPORAL_NAMESPACE ?? 'default',
  taskQueue: required('TEMPORAL_TASK_QUEUE'),
  deps: {
    db: database.db,
    mailer,
    gateway,
    publicBaseUrl: env.PUBLIC_BASE_URL ?? 'http://ks.test',
    supportEmail: env.SUPPORT_EMAIL ?? 'support@ks.test',
    redemptions,
  },
  workflowBundle: { codePath: required('KS_WORKFLOW_BUNDLE') },
  tuning: sticky === undefined ? { maxCachedWorkflows: 0 } : { stickyQueueScheduleToStartTimeout: sticky },
});
console.log('[worker-entry] ready');
await worker.run();
await redemptions.stop();
await connection.close();
await gateway.close();
await database.close();
