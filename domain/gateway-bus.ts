// The gateway's command channels (PostgreSQL LISTEN/NOTIFY), named here so that both the gateway and
// whatever commands it (the API, activities, a transaction that changed access rights) agree on them.
// Imports nothing of the project.

const instanceIdPattern = /^[A-Za-z0-9_-]{1,40}$/;
export const isValidInstanceId = (id: string) => instanceIdPattern.test(id);
export const commandChannel = (instanceId: string) => `gw_cmd_${instanceId}`;

/** NOTIFY payloads are limited to 8000 bytes: IQ ids go out in chunks of this many. */
export const MAX_SYNC_IQS = 150;

/**
 * K7: the NOTIFYs that tell each gateway instance which of its IQs have new access versions, and
 * which, one per instance and chunk of IQs (the `access-sync` command of gateway/command-bus.ts).
 */
export function accessSyncNotifications(
  iqs: ReadonlyArray<{ iqId: string; instance: string; version: number }>,
): Array<{ channel: string; payload: string }> {
  const byInstance = new Map<string, Array<{ iqId: string; version: number }>>();
  for (const { iqId, instance, version } of iqs) {
    byInstance.set(instance, [...(byInstance.get(instance) ?? []), { iqId, version }]);
  }
  const out: Array<{ channel: string; payload: string }> = [];
  for (const [instance, all] of byInstance) {
    for (let i = 0; i < all.length; i += MAX_SYNC_IQS) {
      const chunk = all.slice(i, i + MAX_SYNC_IQS);
      out.push({
        channel: commandChannel(instance),
        payload: JSON.stringify({
          kind: 'access-sync',
          iqIds: chunk.map((c) => c.iqId),
          versions: chunk.map((c) => c.version),
        }),
      });
    }
  }
  return out;
}
