import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { type Client, Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import {
  createDevServerEnv,
  createTimeSkippingEnv,
  SEARCH_ATTRIBUTES,
  startDevServer,
} from '../../infra/temporal-servers';
import {
  DeletionStatus,
  RolloutStatus,
  SiteId,
  SubscriptionEndsAt,
  SubscriptionStatus,
} from '../../workflows/search-attributes';

const SERVER_TIMEOUT_MS = 120_000;
/** Started, never run (no worker polls its queue): the server checks the attributes at the start. */
const searchAttributeProbe = async () => {};
const ENDS_AT = new Date('2030-01-02T03:04:05.000Z');

/** True once nothing listens on the address any more. */
function refusesConnections(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/**
 * Starts a workflow (no worker needed) carrying all five attributes and reads them back: the
 * server rejects unregistered attributes, so this proves registration on any server, including
 * the Java test server, which does not implement `listSearchAttributes`.
 */
async function expectSearchAttributesAccepted(client: Client): Promise<void> {
  const handle = await client.workflow.start(searchAttributeProbe, {
    taskQueue: 'search-attribute-probe',
    workflowId: `probe-${randomUUID()}`,
    typedSearchAttributes: [
      { key: SiteId, value: 'site-1' },
      { key: SubscriptionStatus, value: 'active' },
      { key: SubscriptionEndsAt, value: ENDS_AT },
      { key: DeletionStatus, value: 'none' },
      { key: RolloutStatus, value: 'done' },
    ],
  });
  const { typedSearchAttributes } = await handle.describe();
  expect(typedSearchAttributes.get(SiteId)).toBe('site-1');
  expect(typedSearchAttributes.get(SubscriptionStatus)).toBe('active');
  expect(typedSearchAttributes.get(SubscriptionEndsAt)?.toISOString()).toBe(ENDS_AT.toISOString());
  expect(typedSearchAttributes.get(DeletionStatus)).toBe('none');
  expect(typedSearchAttributes.get(RolloutStatus)).toBe('done');
  await handle.terminate('probe done');
}

/** The product attributes as the server lists them, to compare with SEARCH_ATTRIBUTES. */
async function listedSearchAttributes(connection: Connection, namespace: string) {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  return Object.fromEntries(
    Object.keys(SEARCH_ATTRIBUTES).map((name) => [name, customAttributes?.[name] ?? 'missing']),
  );
}

describe('time-skipping test server', () => {
  it(
    'registers the search attributes and stops listening on teardown',
    async () => {
      const env = await createTimeSkippingEnv();
      try {
        expect(env.supportsTimeSkipping).toBe(true);
        // The Java test server answers UNIMPLEMENTED here; the probe workflow checks instead.
        await expect(listedSearchAttributes(env.connection, 'default')).rejects.toThrow(/UNIMPLEMENTED/);
        await expectSearchAttributesAccepted(env.client);
      } finally {
        await env.teardown();
      }
      expect(await refusesConnections(env.address)).toBe(true);
    },
    SERVER_TIMEOUT_MS,
  );
});

describe('dev server', () => {
  it(
    'createDevServerEnv lists the search attributes and stops listening on teardown',
    async () => {
      const { env, server, teardown } = await createDevServerEnv();
      try {
        expect(await listedSearchAttributes(env.connection, 'default')).toEqual(SEARCH_ATTRIBUTES);
        await expectSearchAttributesAccepted(env.client);
      } finally {
        await teardown();
      }
      expect(await refusesConnections(server.address)).toBe(true);
    },
    SERVER_TIMEOUT_MS,
  );

  it(
    'startDevServer serves the Web UI, registers in its namespace, and stop() frees both ports',
    async () => {
      const server = await startDevServer({ namespace: 'ks-test' });
      try {
        expect(server.uiUrl).toBeDefined();
        expect((await fetch(server.uiUrl!)).status).toBe(200);
        const connection = await Connection.connect({ address: server.address });
        try {
          expect(await listedSearchAttributes(connection, 'ks-test')).toEqual(SEARCH_ATTRIBUTES);
        } finally {
          await connection.close();
        }
      } finally {
        await server.stop();
      }
      expect(await refusesConnections(server.address)).toBe(true);
      expect(await refusesConnections(new URL(server.uiUrl!).host)).toBe(true);
    },
    SERVER_TIMEOUT_MS,
  );
});
