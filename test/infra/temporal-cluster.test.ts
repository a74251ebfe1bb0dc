import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postgresAt } from '../../db/connection-url';
import { freePort } from '../../infra/free-port';
import { provisionTemporalCli, provisionTemporalSqlTool } from '../../infra/temporal-binaries';
import {
  clusterBinariesAvailable,
  startTemporalCluster,
  type TemporalCluster,
} from '../../infra/temporal-cluster';
import { SEARCH_ATTRIBUTES } from '../../infra/temporal-servers';
import { eventually } from '../gateway/helpers';
import { expectSearchAttributesAccepted, listedSearchAttributes } from '../support/temporal-probes';

/**
 * The Temporal cluster of `npm run start:cluster` (infra/temporal-cluster.ts): databases set up by
 * the compose file's schema script, one process per service, the history service on two hosts on
 * their own loopback addresses. Skipped only where its binaries cannot be had (no Go, nothing cached).
 */
const available = await clusterBinariesAvailable();
/** The compose setup script runs the temporal CLI. */
const cli = await provisionTemporalCli();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

let dir: string;
let cluster: TemporalCluster;
let connection: Connection;
let client: Client;
let temporalDb: postgres.Sql;
/** Started, never run (no worker polls its queue): a workflow that only has to exist. */
const clusterProbe = async () => {};
let visibilityDb: postgres.Sql;

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'ks-cluster-'));
  await chmod(dir, 0o755);
  // Temporal's databases on the run's PostgreSQL, under names of their own.
  const suffix = randomBytes(4).toString('hex');
  const databases = { temporal: `temporal_${suffix}`, visibility: `temporal_visibility_${suffix}` };
  cluster = await startTemporalCluster({
    postgresUrl: inject('postgresUrl'),
    dir,
    port: await freePort(),
    portBase: 10_000 + Math.floor(Math.random() * 1_000) * 10,
    headless: true,
    databases,
  });
  connection = await Connection.connect({ address: cluster.address });
  client = new Client({ connection });
  const url = (database: string) => {
    const u = new URL(inject('postgresUrl'));
    u.pathname = `/${database}`;
    return u.toString();
  };
  temporalDb = postgresAt(url(databases.temporal), { max: 1, onnotice: () => {} });
  visibilityDb = postgresAt(url(databases.visibility), { max: 1, onnotice: () => {} });
});

afterAll(async () => {
  await connection?.close();
  await temporalDb?.end();
  await visibilityDb?.end();
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The history host (ip:port) that owns each shard, as the shard rows record it. */
async function shardOwners(): Promise<string[]> {
  const rows = await temporalDb<{ data: Buffer }[]>`select data from shards order by shard_id`;
  return rows.map((row) => /127\.0\.0\.\d+:\d+/.exec(row.data.toString('latin1'))?.[0] ?? 'none');
}

const hostIp = (name: string) => cluster.hosts().find((h) => h.name === name)!.ip;

/**
 * Starts workflows (no worker needed) whose ids spread over every shard, and terminates them. While
 * shards move between hosts a start can time out as it would for any client; each is retried under
 * its own id (already started counts as started) for up to a minute, the cluster's recovery window.
 */
async function startWorkflowsOnEveryShard(): Promise<void> {
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      const workflowId = `probe-${randomUUID()}`;
      await eventually(async () => {
        try {
          await client.workflow.start(clusterProbe, { taskQueue: 'cluster-probe', workflowId });
        } catch (error) {
          if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        }
      }, 60_000);
      const handle = client.workflow.getHandle(workflowId);
      await eventually(async () => {
        // A retried terminate may find its first attempt done.
        if ((await handle.describe()).status.name !== 'TERMINATED') await handle.terminate('probe done');
      }, 60_000);
    }),
  );
}

async function newestVersion(schema: 'temporal' | 'visibility'): Promise<string> {
  const tool = await provisionTemporalSqlTool();
  const versions = (await readdir(join(tool!.schemaDir, schema, 'versioned'))).map((v) =>
    v.replace(/^v/, ''),
  );
  const key = (v: string) => v.split('.').map(Number);
  return versions.sort((a, b) => key(a)[0]! - key(b)[0]! || key(a)[1]! - key(b)[1]!).at(-1)!;
}

describe.skipIf(!available)('Temporal cluster on PostgreSQL', () => {
  it('migrates both databases to the newest schema with deploy/temporal/setup-schema.sh', async () => {
    const [persistence] = await temporalDb<
      { curr_version: string }[]
    >`select curr_version from schema_version`;
    const [visibility] = await visibilityDb<
      { curr_version: string }[]
    >`select curr_version from schema_version`;
    expect(persistence?.curr_version).toBe(await newestVersion('temporal'));
    expect(visibility?.curr_version).toBe(await newestVersion('visibility'));
  });

  it('serves the namespace with the product search attributes, and lists workflows from SQL visibility', async () => {
    expect(await listedSearchAttributes(connection, 'default')).toEqual(SEARCH_ATTRIBUTES);
    await expectSearchAttributesAccepted(client);
    const workflowId = `visible-${randomUUID()}`;
    await client.workflow.start(clusterProbe, { taskQueue: 'cluster-probe', workflowId });
    await eventually(async () => {
      const listed = [];
      for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) listed.push(wf);
      expect(listed).toHaveLength(1);
    }, 30_000);
    const rows = await visibilityDb`select 1 from executions_visibility where workflow_id = ${workflowId}`;
    expect(rows).toHaveLength(1);
    await client.workflow.getHandle(workflowId).terminate('probe done');
  });

  it('runs one process per service, history on two hosts with their own addresses', () => {
    const hosts = cluster.hosts();
    expect(hosts.map((h) => h.service).sort()).toEqual([
      'frontend',
      'history',
      'history',
      'matching',
      'worker',
    ]);
    expect(new Set(hosts.map((h) => h.ip)).size).toBe(hosts.length);
    expect(new Set(hosts.map((h) => h.pid)).size).toBe(hosts.length);
  });

  it('splits the history shards between both hosts; one takes them all while the other is down', async () => {
    const [first, second] = [hostIp('history-1'), hostIp('history-2')];
    await eventually(async () => {
      const owners = new Set((await shardOwners()).map((owner) => owner.split(':')[0]));
      expect(owners).toEqual(new Set([first, second]));
    }, 60_000);

    await cluster.killHost('history-1');
    await eventually(async () => {
      expect(new Set((await shardOwners()).map((owner) => owner.split(':')[0]))).toEqual(new Set([second]));
    }, 60_000);
    await startWorkflowsOnEveryShard();

    await cluster.startHost('history-1');
    await eventually(async () => {
      const owners = new Set((await shardOwners()).map((owner) => owner.split(':')[0]));
      expect(owners).toEqual(new Set([first, second]));
    }, 60_000);
    await startWorkflowsOnEveryShard();
  });

  it('comes back on the same addresses and data after every process is killed', async () => {
    const workflowId = `survivor-${randomUUID()}`;
    await client.workflow.start(clusterProbe, { taskQueue: 'cluster-probe', workflowId });
    const before = cluster.hosts().map((h) => h.pid);
    await cluster.restart('SIGKILL');
    const after = cluster.hosts().map((h) => h.pid);
    expect(after.every((pid, i) => pid !== before[i])).toBe(true);
    const fresh = await Connection.connect({ address: cluster.address });
    try {
      const description = await new Client({ connection: fresh }).workflow.getHandle(workflowId).describe();
      expect(description.status.name).toBe('RUNNING');
    } finally {
      await fresh.close();
    }
    await client.workflow.getHandle(workflowId).terminate('probe done');
  });

  it.skipIf(cli.type !== 'existing-path')(
    "sets up a namespace with docker-compose's temporal-setup script",
    async () => {
      if (cli.type !== 'existing-path') throw new Error('no temporal CLI');
      const namespace = `compose-${randomBytes(3).toString('hex')}`;
      const output = await new Promise<string>((resolve, reject) => {
        let text = '';
        const child = spawn('sh', [join(ROOT, 'deploy/temporal/setup-namespace.sh')], {
          env: {
            PATH: `${dirname(cli.path)}:${process.env.PATH}`,
            HOME: process.env.HOME,
            TEMPORAL_ADDRESS: cluster.address,
            TEMPORAL_NAMESPACE: namespace,
            SETUP_TIMEOUT_SECONDS: '90',
          },
        });
        child.stdout.on('data', (d) => (text += d));
        child.stderr.on('data', (d) => (text += d));
        child.on('close', (code) =>
          code === 0 ? resolve(text) : reject(new Error(`exit ${code}:\n${text}`)),
        );
      });
      expect(output).toContain(`registered on namespace ${namespace}`);
      expect(await listedSearchAttributes(connection, namespace)).toEqual(SEARCH_ATTRIBUTES);
    },
  );
});
