import { randomBytes, randomUUID } from 'node:crypto';
import type postgres from 'postgres';
import { z } from 'zod';
import { commandChannel, MAX_SYNC_IQS } from '../domain/gateway-bus';

export { isValidInstanceId, MAX_SYNC_IQS } from '../domain/gateway-bus';

import { logger } from '../observability/logger';

/**
 * Commands for IQs travel through PostgreSQL LISTEN/NOTIFY: each gateway instance listens on its own
 * channel (the IQ row names the instance holding its connection), and a requester listens on a reply
 * channel of its own. Any process that reaches the database can command any IQ, however many gateway
 * instances run. NOTIFY is fire-and-forget: a lost command shows up as a timeout, never as a wrong answer.
 */

const REPLY_PREFIX = 'gw_reply_';

const id = z.string().min(1).max(100);
export const CommandSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('open'),
    requestId: id,
    replyTo: z.string().startsWith(REPLY_PREFIX).max(63),
    iqId: z.uuid(),
    lockId: z.uuid(),
  }),
  /** Re-read these IQs' subscribed flags and push the ones that changed. */
  z.object({ kind: z.literal('sync-subscription'), iqIds: z.array(z.uuid()).max(MAX_SYNC_IQS) }),
  /**
   * K7: these IQs have new access versions; send each what it misses. Sent by the transaction that
   * changed access rights, so it arrives only once that change committed.
   */
  z
    .object({
      kind: z.literal('access-sync'),
      iqIds: z.array(z.uuid()).max(MAX_SYNC_IQS),
      /** Each IQ's version after the change. */
      versions: z.array(z.number().int().min(0)).max(MAX_SYNC_IQS),
    })
    .refine((c) => c.versions.length === c.iqIds.length),
  /** F2: name a firmware file to the IQ; its progress comes back as update-status events. */
  z.object({
    kind: z.literal('update'),
    iqId: z.uuid(),
    updateId: id,
    version: z.string().min(1).max(64),
    url: z.string().min(1).max(2048),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    sizeBytes: z.number().int().nonnegative(),
  }),
]);
export type Command = z.infer<typeof CommandSchema>;
export type OpenCommand = Extract<Command, { kind: 'open' }>;

/** What became of an open command. `offline`: no instance holds the IQ's connection. */
export type OpenOutcome =
  | { outcome: 'opened' }
  | { outcome: 'refused'; reason: string }
  | { outcome: 'offline' }
  | { outcome: 'timeout' };

const ReplySchema = z.object({
  requestId: id,
  outcome: z.enum(['opened', 'refused', 'offline', 'timeout']),
  reason: z.string().max(200).optional(),
});

function parseJson<T>(schema: z.ZodType<T>, payload: string): T | undefined {
  try {
    const result = schema.safeParse(JSON.parse(payload));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

/** Gateway side: every valid command for this instance goes to `handle`; returns the unlisten. */
export async function listenForCommands(
  sql: postgres.Sql,
  instanceId: string,
  handle: (command: Command) => void,
): Promise<() => Promise<void>> {
  const { unlisten } = await sql.listen(commandChannel(instanceId), (payload) => {
    const command = parseJson(CommandSchema, payload);
    if (command) handle(command);
    else logger.warn('ignored a malformed bus command');
  });
  return unlisten;
}

export async function replyToOpen(sql: postgres.Sql, command: OpenCommand, outcome: OpenOutcome) {
  await sql.notify(command.replyTo, JSON.stringify({ requestId: command.requestId, ...outcome }));
}

export interface CommandClient {
  send(instanceId: string, command: Exclude<Command, OpenCommand>): Promise<void>;
  /** Sends an open command and waits for the gateway's answer; no answer in time is `timeout`. */
  open(instanceId: string, target: { iqId: string; lockId: string }, timeoutMs: number): Promise<OpenOutcome>;
  close(): Promise<void>;
}

export function createCommandClient(sql: postgres.Sql): CommandClient {
  const replyTo = `${REPLY_PREFIX}${randomBytes(12).toString('hex')}`;
  const waiting = new Map<string, (outcome: OpenOutcome) => void>();
  let listening: Promise<{ unlisten(): Promise<void> }> | undefined;

  // One reply channel per client, opened on first use so processes that never open locks hold none.
  const ensureListening = () => {
    listening ??= sql.listen(replyTo, (payload) => {
      const reply = parseJson(ReplySchema, payload);
      if (!reply) return;
      const outcome: OpenOutcome =
        reply.outcome === 'refused'
          ? { outcome: 'refused', reason: reply.reason ?? 'refused' }
          : { outcome: reply.outcome };
      waiting.get(reply.requestId)?.(outcome);
    });
    return listening;
  };

  const notify = (instanceId: string, command: Command) =>
    sql.notify(commandChannel(instanceId), JSON.stringify(command)).then(() => {});

  return {
    send: notify,
    async open(instanceId, target, timeoutMs) {
      await ensureListening();
      const requestId = randomUUID();
      const answer = new Promise<OpenOutcome>((resolve) => {
        const timer = setTimeout(() => done({ outcome: 'timeout' }), timeoutMs);
        const done = (outcome: OpenOutcome) => {
          clearTimeout(timer);
          waiting.delete(requestId);
          resolve(outcome);
        };
        waiting.set(requestId, done);
      });
      try {
        await notify(instanceId, { kind: 'open', requestId, replyTo, ...target });
      } catch (error) {
        waiting.get(requestId)?.({ outcome: 'timeout' });
        throw error;
      }
      return answer;
    },
    async close() {
      for (const done of waiting.values()) done({ outcome: 'timeout' });
      if (listening) await (await listening).unlisten();
    },
  };
}
