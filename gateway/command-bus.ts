import { sql as drizzleSql } from 'drizzle-orm';
import type postgres from 'postgres';
import { z } from 'zod';
import type { DbOrTx } from '../db/client';
import { commandChannel, MAX_SYNC_IQS } from '../domain/gateway-bus';

export { isValidInstanceId, MAX_SYNC_IQS } from '../domain/gateway-bus';

import { logger } from '../observability/logger';

/**
 * Fire-and-forget commands for IQs travel through PostgreSQL LISTEN/NOTIFY: each gateway instance
 * listens on its own channel (the IQ row names the instance holding its connection). Any process that
 * reaches the database can command any IQ, however many gateway instances run; a transaction's NOTIFY
 * goes out only once it commits. Remote openings, which wait for an answer, go to the instance's
 * command endpoint instead (gateway/command-endpoint.ts).
 */

const id = z.string().min(1).max(100);
export const CommandSchema = z.discriminatedUnion('kind', [
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

/** What became of an open command. `offline`: no instance holds the IQ's connection. */
export type OpenOutcome =
  | { outcome: 'opened' }
  | { outcome: 'refused'; reason: string }
  | { outcome: 'offline' }
  | { outcome: 'timeout' };

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

export interface CommandClient {
  send(instanceId: string, command: Command): Promise<void>;
  /** Many commands in one statement (one notification each, in order): a wave's starts in one round trip. */
  sendMany(commands: Array<{ instanceId: string; command: Command }>): Promise<void>;
}

/** Commands sent by a transaction (one statement): they go out when it commits, none if it rolls back. */
export async function sendManyWithin(
  tx: DbOrTx,
  commands: Array<{ instanceId: string; command: Command }>,
): Promise<void> {
  if (commands.length === 0) return;
  const rows = commands.map((c) => ({
    channel: commandChannel(c.instanceId),
    payload: JSON.stringify(c.command),
  }));
  await tx.execute(drizzleSql`
    select pg_notify(x.channel, x.payload)
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(channel text, payload text)`);
}

export function createCommandClient(sql: postgres.Sql): CommandClient {
  return {
    send: (instanceId, command) =>
      sql.notify(commandChannel(instanceId), JSON.stringify(command)).then(() => {}),
    async sendMany(commands) {
      if (commands.length === 0) return;
      const channels = commands.map((c) => commandChannel(c.instanceId));
      const payloads = commands.map((c) => JSON.stringify(c.command));
      await sql`select pg_notify(c, p) from unnest(${channels}::text[], ${payloads}::text[]) with ordinality as x(c, p, n) order by n`;
    },
  };
}
