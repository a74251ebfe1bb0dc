import { randomUUID } from 'node:crypto';
import { type IqCredentials, type SimulatedIq, type SimulatedIqOptions, startSimulatedIq } from './iq';

export interface FleetOptions
  extends Pick<
    SimulatedIqOptions,
    'host' | 'ports' | 'latencyMs' | 'update' | 'random' | 'openings' | 'connectTimeoutMs'
  > {
  credentials: IqCredentials[];
  /** Share of the IQs (0–1) that stay unplugged: registered but never connecting. */
  offlineShare?: number;
}

export interface Fleet {
  online: SimulatedIq[];
  offline: IqCredentials[];
  /** IQs that could not connect (e.g. auth_failed), with the reason. */
  failed: Array<{ serial: string; error: string }>;
  stop(): Promise<void>;
}

/** Many IQs in one process; each keeps its own connection and reconnects after drops. */
export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const offlineCount = Math.round(opts.credentials.length * (opts.offlineShare ?? 0));
  const offline = opts.credentials.slice(0, offlineCount);
  const results = await Promise.allSettled(
    opts.credentials.slice(offlineCount).map((credentials) =>
      startSimulatedIq({
        ...credentials,
        ports: opts.ports,
        ...(opts.host ? { host: opts.host } : {}),
        ...(opts.latencyMs !== undefined ? { latencyMs: opts.latencyMs } : {}),
        ...(opts.update ? { update: opts.update } : {}),
        ...(opts.random ? { random: opts.random } : {}),
        ...(opts.openings ? { openings: opts.openings } : {}),
        ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
      }),
    ),
  );
  const online: SimulatedIq[] = [];
  const failed: Fleet['failed'] = [];
  results.forEach((result, i) => {
    if (result.status === 'fulfilled') online.push(result.value);
    else failed.push({ serial: opts.credentials[offlineCount + i]!.serial, error: String(result.reason) });
  });
  return {
    online,
    offline,
    failed,
    stop: async () => {
      await Promise.all(online.map((iq) => iq.stop()));
    },
  };
}

/** Registers `count` IQs at a site through the HTTP API (POST /sites/:siteId/iqs) and returns their credentials. */
export async function registerIqs(opts: {
  baseUrl: string;
  token: string;
  siteId: string;
  count: number;
  model: string;
  firmware: string;
}): Promise<IqCredentials[]> {
  const credentials: IqCredentials[] = [];
  for (let i = 0; i < opts.count; i++) {
    const serial = `SIM-${randomUUID().slice(0, 13)}`;
    const res = await fetch(new URL(`/sites/${opts.siteId}/iqs`, opts.baseUrl), {
      method: 'POST',
      headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ serial, model: opts.model, name: `Simulated ${i + 1}` }),
    });
    if (res.status !== 201) throw new Error(`registering an IQ answered ${res.status}: ${await res.text()}`);
    const { deviceSecret } = (await res.json()) as { deviceSecret: string };
    credentials.push({ serial, secret: deviceSecret, model: opts.model, firmware: opts.firmware });
  }
  return credentials;
}
