import { Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import {
  createDevServerEnv,
  createTimeSkippingEnv,
  SEARCH_ATTRIBUTES,
  startDevServer,
} from '../../infra/temporal-servers';
import {
  expectSearchAttributesAccepted,
  listedSearchAttributes,
  refusesConnections,
} from '../support/temporal-probes';

const SERVER_TIMEOUT_MS = 120_000;
describe('time-skipping test server', () => {
  it(
    'registers the search attributes, skips time, and stops listening on teardown',
    async () => {
      const env = await createTimeSkippingEnv();
      try {
        expect(env.supportsTimeSkipping).toBe(true);
        // The Java test server answers UNIMPLEMENTED here; the probe workflow checks instead.
        await expect(listedSearchAttributes(env.connection, 'default')).rejects.toThrow(/UNIMPLEMENTED/);
        // Time moves by skipping: a day passes at once (before the probe, whose workflow task no
        // worker takes, holds time still).
        const before = await env.currentTimeMs();
        await env.sleep(86_400_000);
        expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(86_400_000);
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
