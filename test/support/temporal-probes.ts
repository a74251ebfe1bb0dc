import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import type { Client, Connection } from '@temporalio/client';
import { expect } from 'vitest';
import { SEARCH_ATTRIBUTES } from '../../infra/temporal-servers';
import {
  DeletionStatus,
  RolloutStatus,
  SiteId,
  SiteIds,
  SubscriptionEndsAt,
  SubscriptionStatus,
} from '../../workflows/search-attributes';

const ENDS_AT = new Date('2030-01-02T03:04:05.000Z');
/** Started, never run (no worker polls its queue): the server checks the attributes at the start. */
const searchAttributeProbe = async () => {};

/** True once nothing listens on the address any more. */
export function refusesConnections(address: string): Promise<boolean> {
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
 * Starts a workflow (no worker needed) carrying every product attribute and reads them back: the
 * server rejects unregistered attributes, so this proves registration on any server, including
 * the Java test server, which does not implement `listSearchAttributes`.
 */
export async function expectSearchAttributesAccepted(client: Client): Promise<void> {
  const handle = await client.workflow.start(searchAttributeProbe, {
    taskQueue: 'search-attribute-probe',
    workflowId: `probe-${randomUUID()}`,
    typedSearchAttributes: [
      { key: SiteId, value: 'site-1' },
      { key: SubscriptionStatus, value: 'active' },
      { key: SubscriptionEndsAt, value: ENDS_AT },
      { key: DeletionStatus, value: 'none' },
      { key: RolloutStatus, value: 'done' },
      { key: SiteIds, value: ['site-1', 'site-2'] },
    ],
  });
  const { typedSearchAttributes } = await handle.describe();
  expect(typedSearchAttributes.get(SiteId)).toBe('site-1');
  expect(typedSearchAttributes.get(SubscriptionStatus)).toBe('active');
  expect(typedSearchAttributes.get(SubscriptionEndsAt)?.toISOString()).toBe(ENDS_AT.toISOString());
  expect(typedSearchAttributes.get(DeletionStatus)).toBe('none');
  expect(typedSearchAttributes.get(RolloutStatus)).toBe('done');
  expect(typedSearchAttributes.get(SiteIds)).toEqual(['site-1', 'site-2']);
  await handle.terminate('probe done');
}

/** The product attributes as the server lists them, to compare with SEARCH_ATTRIBUTES. */
export async function listedSearchAttributes(connection: Connection, namespace: string) {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  return Object.fromEntries(
    Object.keys(SEARCH_ATTRIBUTES).map((name) => [name, customAttributes?.[name] ?? 'missing']),
  );
}
