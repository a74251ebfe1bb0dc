/**
 * The load generator of bench/redemption, run as its own process (never beside the system under
 * test): `node --import tsx bench/redemption-load.ts <job.json> <product|floor>`. It fires the job's
 * calls with the job's concurrency and prints one JSON line: latencies, wall time, failures.
 *   product: POST /sites/:id/subscription/redemptions over HTTP, one voucher per call.
 *   floor:   a bare no-op update-with-start on the same Temporal server (bench/noop).
 * Each through the lightest client of its protocol, as it shares the machine with what it measures:
 * Node's http with keep-alive (fetch cost this process 1.3 ms of CPU a redemption, node:http 0.4–0.6),
 * and Temporal's native client, the SDK's Rust core (grpc-js cost 1.0 ms a call, the native 0.6–0.9).
 */

import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { Client, WithStartWorkflowOperation } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { clientAddress } from './client-addresses';
import { noopUpdate } from './noop/messages';
import { noopWorkflow } from './noop/workflow';
import { runConcurrent } from './stats';

export interface RedemptionJob {
  url: string;
  temporalAddress: string;
  noopTaskQueue: string;
  clients: number;
  calls: Array<{ siteId: string; token: string; code: string }>;
}

const [jobPath, phase] = process.argv.slice(2);
if (!jobPath || (phase !== 'product' && phase !== 'floor')) {
  throw new Error('usage: redemption-load.ts <job.json> <product|floor>');
}
const job = JSON.parse(await readFile(jobPath, 'utf8')) as RedemptionJob;

let failures = 0;
/** Calls that did not succeed, by HTTP status and problem code, or by error name. */
const failed: Record<string, number> = {};
const fail = (kind: string) => {
  failures++;
  failed[kind] = (failed[kind] ?? 0) + 1;
};
const agent = new Agent({ keepAlive: true, maxSockets: job.clients });
/** POSTs `body` as JSON on a kept-alive connection; resolves with the answer's status and text. */
const postJson = (url: string, headers: Record<string, string>, body: string) =>
  new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
const problemCode = (text: string) => {
  try {
    return (JSON.parse(text) as { code?: string }).code ?? '';
  } catch {
    return '';
  }
};

let result: Awaited<ReturnType<typeof runConcurrent>>;
/** This process's CPU from the first timed call on (not its start, nor the floor's warm-up call). */
let cpuBefore: NodeJS.CpuUsage;
if (phase === 'product') {
  cpuBefore = process.cpuUsage();
  result = await runConcurrent(job.calls.length, job.clients, async (i) => {
    const call = job.calls[i]!;
    try {
      const res = await postJson(
        `${job.url}/sites/${call.siteId}/subscription/redemptions`,
        {
          authorization: `Bearer ${call.token}`,
          // Each call from a customer's own address (bench/redemption trusts 127.0.0.1 as a proxy).
          'x-forwarded-for': clientAddress(i),
        },
        JSON.stringify({ code: call.code }),
      );
      if (res.status !== 200) fail(`${res.status} ${problemCode(res.text)}`.trim());
    } catch (err) {
      // A failed call is counted, not fatal: the run still reports what the others measured.
      fail((err as Error).name);
    }
  });
} else {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address: job.temporalAddress });
  const temporal = new Client({ connection });
  const noop = (value: string) =>
    temporal.workflow.executeUpdateWithStart(noopUpdate, {
      args: [value],
      startWorkflowOperation: new WithStartWorkflowOperation(noopWorkflow, {
        workflowId: `noop-${randomUUID()}`,
        taskQueue: job.noopTaskQueue,
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
  await noop('warm');
  cpuBefore = process.cpuUsage();
  result = await runConcurrent(job.calls.length, job.clients, async () => {
    try {
      if ((await noop('x')) !== 'x') fail('wrong answer');
    } catch (err) {
      fail((err as Error).name);
    }
  });
  await connection.close();
}
const cpu = process.cpuUsage(cpuBefore);
console.log(JSON.stringify({ ...result, failures, failed, cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
