/**
 * bench/redemption: 32 concurrent clients redeem distinct vouchers on distinct sites through HTTP
 * (API → update-with-start → worker → PostgreSQL) against the Temporal dev server, or with
 * `--server cluster` the cluster of `start:cluster`. In the same run a bare no-op update-with-start on
 * the same server gives the floor; the ratio says what the product adds.
 * Run: npx tsx bench/redemption.ts [redemptions] [clients] [--server dev|cluster]
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { issueBearerToken } from '../api/auth/tokens';
import { issueVouchers } from '../db/queries/vouchers';
import { memberships, profiles, sites } from '../db/schema';
import { startLocalStack } from './local-stack';
import { noopUpdate } from './noop/messages';
import { noopWorkflow } from './noop/workflow';
import { runConcurrent, summarize } from './stats';
import { benchOptions } from './temporal-server';

const { server, args } = benchOptions();
const total = Number(args[0] ?? 512);
const clients = Number(args[1] ?? 32);

const stack = await startLocalStack({ mode: 'production', server });
const { db } = stack.database;
const noopWorker = await Worker.create({
  connection: stack.native,
  taskQueue: 'bench-noop',
  workflowsPath: fileURLToPath(new URL('./noop/workflow.ts', import.meta.url)),
});
const noopRun = noopWorker.run();
const noopUpdateWithStart = (value: string) =>
  stack.temporal.workflow.executeUpdateWithStart(noopUpdate, {
    args: [value],
    startWorkflowOperation: new WithStartWorkflowOperation(noopWorkflow, {
      workflowId: `noop-${randomUUID()}`,
      taskQueue: 'bench-noop',
      workflowIdConflictPolicy: 'USE_EXISTING',
    }),
  });

try {
  // One owner and one site per redemption, one voucher each.
  const owners = await db
    .insert(profiles)
    .values(
      Array.from({ length: total }, (_, i) => ({
        email: `owner${i}@bench.test`,
        name: `Owner ${i}`,
        passwordHash: 'x',
        emailConfirmedAt: new Date(),
      })),
    )
    .returning({ id: profiles.id });
  const siteRows = await db
    .insert(sites)
    .values(owners.map((_, i) => ({ name: `Bench ${i}` })))
    .returning({ id: sites.id });
  await db
    .insert(memberships)
    .values(siteRows.map((s, i) => ({ siteId: s.id, profileId: owners[i]!.id, role: 'owner' as const })));
  const codes = await issueVouchers(db, { usersLimit: 10, iqsLimit: 2, durationDays: 365 }, total);
  const tokens = await Promise.all(owners.map((o) => issueBearerToken(o.id, stack.tokenSecret, new Date())));

  // Warm-up: first workflow task and bundle caches.
  await noopUpdateWithStart('warm');

  /** Answers other than 200, by status and problem code. */
  const failures = new Map<string, number>();
  const product = await runConcurrent(total, clients, async (i) => {
    const res = await fetch(`${stack.url}/sites/${siteRows[i]!.id}/subscription/redemptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[i]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ code: codes[i]!.code }),
    });
    if (res.status !== 200) {
      const { code } = (await res.json().catch(() => ({}))) as { code?: string };
      const key = `${res.status} ${code ?? ''}`.trim();
      failures.set(key, (failures.get(key) ?? 0) + 1);
    } else {
      await res.arrayBuffer();
    }
  });
  const floor = await runConcurrent(total, clients, async () => {
    await noopUpdateWithStart('x');
  });
  const a = summarize(product.latencies, product.wallMs);
  const b = summarize(floor.latencies, floor.wallMs);
  console.log(
    `bench/redemption: ${total} redemptions, ${clients} concurrent clients, ${stack.temporalServer}`,
  );
  console.log(
    `  redemption over HTTP:    ${a.perSecond.toFixed(1)}/s  p50 ${a.p50.toFixed(0)} ms  p99 ${a.p99.toFixed(0)} ms  non-200: ${[...failures.values()].reduce((n, k) => n + k, 0)}${failures.size ? ` (${[...failures].map(([k, n]) => `${n}× ${k}`).join(', ')})` : ''}`,
  );
  console.log(
    `  no-op update-with-start: ${b.perSecond.toFixed(1)}/s  p50 ${b.p50.toFixed(0)} ms  p99 ${b.p99.toFixed(0)} ms`,
  );
  console.log(`  ratio (redemption / floor throughput): ${(a.perSecond / b.perSecond).toFixed(2)}`);
} finally {
  noopWorker.shutdown();
  await noopRun;
  await stack.stop();
}
