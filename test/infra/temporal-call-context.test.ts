/**
 * config/temporal-call-context.ts against the test run's Temporal dev server: the promise hooks that
 * the client's AsyncLocalStorage turns on for the whole process are off again once no call or scope
 * of ours is open (issue 15: every promise of every request paid for them); a scope's deadline and
 * metadata reach every call made in it, whatever other calls start and end meanwhile (generated
 * interleavings); a call that fails closes its count too; and no product code opens a scope the
 * count does not see.
 */
import { executionAsyncId } from 'node:async_hooks';
import { createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection } from '@temporalio/client';
import fc from 'fast-check';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { quietLazyConnection } from '../../config/temporal';
import { openCallContexts, quietWhenIdle, withTemporalDeadline } from '../../config/temporal-call-context';
import { parse, sourceFiles, walk } from '../support/source-files';

/** Whether promise hooks are on: each await's continuation then runs as an async resource of its own. */
async function promiseHooksOn(): Promise<boolean> {
  await null;
  const first = executionAsyncId();
  await null;
  return executionAsyncId() !== first;
}

/** What each call carried as it started: its `tag` metadata and its deadline. */
const seen: Array<{ tag: string | undefined; deadline: number | undefined }> = [];
const recordCalls: Interceptor = (options, nextCall) =>
  new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      const deadline = options.deadline;
      seen.push({
        tag: metadata.get('tag')[0]?.toString(),
        deadline: deadline instanceof Date ? deadline.getTime() : deadline,
      });
      next(metadata, listener);
    },
  });

let client: Client;
const held = new Set<Socket>();
const hanging = createServer((socket) => {
  held.add(socket);
  socket.on('close', () => held.delete(socket));
});

beforeAll(async () => {
  const connection = quietLazyConnection({ address: inject('devServerAddress') }, [recordCalls]);
  await connection.ensureConnected();
  client = new Client({ connection });
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await client?.connection.close();
  for (const socket of held) socket.destroy();
  hanging.close();
});

/** A call made as the product makes them: one with a namespace goes through the client's own scope. */
const call = (withNamespace: boolean) =>
  withNamespace
    ? client.workflowService.describeNamespace({ namespace: 'default' })
    : client.workflowService.getSystemInfo({});

describe('the Temporal client’s call context', () => {
  it('is off once no call is open, though each call turns it on', async () => {
    expect(await promiseHooksOn()).toBe(false);
    const pending = call(true);
    // The call is open: the storage it turned on is on.
    expect(await promiseHooksOn()).toBe(true);
    await pending;
    expect(openCallContexts()).toBe(0);
    expect(await promiseHooksOn()).toBe(false);
  });

  it('reaches every call of a scope whatever other calls end meanwhile (generated interleavings)', async () => {
    const task = fc.record({
      scoped: fc.boolean(),
      calls: fc.array(fc.record({ withNamespace: fc.boolean(), pauseMs: fc.integer({ min: 0, max: 4 }) }), {
        minLength: 1,
        maxLength: 3,
      }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(task, { minLength: 1, maxLength: 6 }), async (tasks) => {
        seen.length = 0;
        const scopes = new Map<string, { from: number; to: number }>();
        await Promise.all(
          tasks.map(async (t, i) => {
            const calls = async () => {
              for (const c of t.calls) {
                await sleep(c.pauseMs);
                await call(c.withNamespace);
              }
            };
            if (!t.scoped) return calls();
            const tag = `scope-${i}`;
            const ms = 60_000 + i * 10_000;
            const from = Date.now() + ms;
            await withTemporalDeadline(client, ms, () =>
              client.withMetadata({ tag }, async () => {
                scopes.set(tag, { from, to: Date.now() + ms });
                await calls();
              }),
            );
          }),
        );
        const expected = tasks.flatMap((t, i) => t.calls.map(() => (t.scoped ? `scope-${i}` : undefined)));
        expect(seen.map((s) => s.tag).sort()).toEqual(expected.sort());
        for (const s of seen) {
          if (s.tag === undefined) {
            expect(s.deadline).toBeUndefined();
          } else {
            const scope = scopes.get(s.tag)!;
            expect(s.deadline).toBeGreaterThanOrEqual(scope.from);
            expect(s.deadline).toBeLessThanOrEqual(scope.to);
          }
        }
        expect(openCallContexts()).toBe(0);
        expect(await promiseHooksOn()).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it('is off again after a call that ends at its scope’s deadline', async () => {
    const silent = quietLazyConnection({
      address: `127.0.0.1:${(hanging.address() as { port: number }).port}`,
    });
    const unanswered = new Client({ connection: silent });
    try {
      await expect(
        withTemporalDeadline(unanswered, 300, () => unanswered.workflowService.getSystemInfo({})),
      ).rejects.toThrow(/deadline/i);
      expect(openCallContexts()).toBe(0);
      expect(await promiseHooksOn()).toBe(false);
    } finally {
      await silent.close();
    }
  });

  it('stays on after a call through a connection it does not count (what the scan below keeps out)', async () => {
    const plain = await Connection.connect({ address: inject('devServerAddress') });
    try {
      // Turned off under uncounted calls, it would lose their context: such a connection is refused.
      expect(() => quietWhenIdle(plain)).toThrow(/does not count its calls/);
      await new Client({ connection: plain }).workflowService.getSystemInfo({});
      expect(await promiseHooksOn()).toBe(true);
    } finally {
      // Closing turns its storage off.
      await plain.close();
    }
    expect(await promiseHooksOn()).toBe(false);
  });

  it('is given scopes only through withTemporalDeadline in the product’s code', () => {
    const scoping = new Set(['withDeadline', 'withMetadata', 'withAbortSignal', 'withApiKey']);
    const offences = sourceFiles()
      .filter((file) => !file.startsWith('test/') && file !== 'config/temporal-call-context.ts')
      .flatMap((file) => {
        const found: string[] = [];
        walk(parse(file), (node) => {
          if (
            ts.isCallExpression(node) &&
            ts.isPropertyAccessExpression(node.expression) &&
            scoping.has(node.expression.name.text)
          ) {
            found.push(`${file}: ${node.expression.getText()}`);
          }
        });
        return found;
      });
    expect(offences).toEqual([]);
  });
});
