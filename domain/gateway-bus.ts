// The gateway's command channels (PostgreSQL LISTEN/NOTIFY), named here so that both the gateway and
// whatever commands it (the API, activities, a transaction that changed access rights) agree on them.
// Imports nothing of the project.

const instanceIdPattern = /^[A-Za-z0-9_-]{1,40}$/;
export const isValidInstanceId = (id: string) => instanceIdPattern.test(id);
export const commandChannel = (instanceId: string) => `gw_cmd_${instanceId}`;

/** NOTIFY payloads are limited to 8000 bytes: IQ ids go out in chunks of this many. */
export const MAX_SYNC_IQS = 150;

/**
 * K7: the NOTIFYs that tell each gateway instance which of its IQs have new access versions, one per
 * instance and chunk of ids (the `access-sync` command of gateway/command-bus.ts).
 */
export function accessSyncNotifications(
  iqs: ReadonlyArray<{ iqId: string; instance: string }>,
): Array<{ channel: string; payload: string }> {
  const byInstance = new Map<string, string[]>();
  for (const { iqId, instance } of iqs) byInstance.set(instance, [...(byInstance.get(instance) ?? []), iqId]);
  const out: Array<{ channel: string; payload: string }> = [];
  for (const [instance, ids] of byInstance) {
    for (let i = 0; i < ids.length; i += MAX_SYNC_IQS) {
      out.push({
        channel: commandChannel(instance),
        payload: JSON.stringify({ kind: 'access-sync', iqIds: ids.slice(i, i + MAX_SYNC_IQS) }),
      });
    }
  }
  return out;
}
