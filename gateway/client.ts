import type postgres from 'postgres';
import type { Db, DbOrTx } from '../db/client';
import { connectedIqsOfSite, findIqCommandUrl } from '../db/queries/iqs';
import {
  type Command,
  createCommandClient,
  MAX_SYNC_IQS,
  type OpenOutcome,
  sendManyWithin,
} from './command-bus';
import { createDirectOpener, defaultCommandSecret } from './command-channel';
import type { OpenCommand } from './command-endpoint';

export type { OpenOutcome };
export type UpdateCommand = Extract<Command, { kind: 'update' }>;

/**
 * What the API and the activities ask of the device gateway: openings go straight to the command
 * endpoint of the instance holding the IQ (gateway/command-channel.ts), the rest through the command bus.
 */
export interface GatewayClient {
  /** Tell the site's connected IQs their subscribed flag changed (each gateway pushes only real changes). */
  subscriptionChanged(siteId: string, within?: DbOrTx): Promise<void>;
  /**
   * Open a lock through its IQ's connection and wait for the IQ's answer. `commandUrl`: the command
   * endpoint of the instance the caller just read as holding the IQ (null: none), which spares
   * reading it again.
   */
  openLock(target: OpenCommand & { commandUrl?: string | null }): Promise<OpenOutcome>;
  /** F2: name a firmware file to each IQ through the instance holding it (fire-and-forget). */
  sendUpdates(updates: Array<{ instance: string; command: UpdateCommand }>): Promise<void>;
}

/** For processes and tests without IQs: nothing is connected, so nothing opens. */
export const noopGatewayClient: GatewayClient = {
  async subscriptionChanged() {},
  async openLock() {
    return { outcome: 'offline' };
  },
  async sendUpdates() {},
};

/**
 * The gateway's IQ-side timeout for an open answer; the client waits a little longer so the gateway's
 * own `timeout` reply, not a lost request, is what normally ends a silent IQ's request.
 */
export const DEVICE_OPEN_TIMEOUT_MS = 5_000;
const REQUEST_SLACK_MS = 2_000;

export function createGatewayClient(deps: {
  db: Db;
  sql: postgres.Sql;
  openTimeoutMs?: number;
  /** The gateways' command secret; default: GATEWAY_COMMAND_SECRET or this process's own. */
  commandSecret?: string;
}): GatewayClient & { close(): Promise<void> } {
  const bus = createCommandClient(deps.sql);
  const direct = createDirectOpener(
    deps.commandSecret ?? defaultCommandSecret(),
    (deps.openTimeoutMs ?? DEVICE_OPEN_TIMEOUT_MS) + REQUEST_SLACK_MS,
  );
  return {
    async subscriptionChanged(siteId, within) {
      const byInstance = await connectedIqsOfSite(within ?? deps.db, siteId);
      const commands: Array<{ instanceId: string; command: Command }> = [];
      for (const [instanceId, iqIds] of byInstance) {
        for (let i = 0; i < iqIds.length; i += MAX_SYNC_IQS) {
          commands.push({
            instanceId,
            command: { kind: 'sync-subscription', iqIds: iqIds.slice(i, i + MAX_SYNC_IQS) },
          });
        }
      }
      // Within a transaction (a relay's, which holds its rows): sent as it commits, on its connection.
      if (within) await sendManyWithin(within, commands);
      else await bus.sendMany(commands);
    },
    async openLock({ commandUrl: known, ...target }) {
      const commandUrl = known === undefined ? await findIqCommandUrl(deps.db, target.iqId) : known;
      if (!commandUrl) return { outcome: 'offline' };
      return direct.open(commandUrl, target);
    },
    async sendUpdates(updates) {
      await bus.sendMany(updates.map((u) => ({ instanceId: u.instance, command: u.command })));
    },
    async close() {
      direct.close();
    },
  };
}
