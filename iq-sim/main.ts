import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { registerIqs, startFleet } from './fleet';
import type { IqCredentials } from './iq';

const usage = `npm run iq-sim -- [options]
  Credentials (one of):
    --credentials FILE     JSON array of {serial, secret, model, firmware}
    --api URL --token T --site ID [--count N] [--model M] [--firmware V] [--save FILE]
                           register N IQs through the API (the secrets are shown once: --save keeps them)
  Gateway:   --host H (127.0.0.1)  --ports 40000,40001
  Behaviour: --offline-share 0..1 (0)  --latency-ms N (50)
             --update-failure-rate 0..1 (0)  --update-duration-ms N (2000)
             --openings-per-minute N (0)   per IQ: tags and mobile keys from the IQ's own access
                                           list, opened or refused by it, each reported as an event
             --refused-share 0..1 (0.2)    share of those attempts with an unknown tag or a wrong PIN
  Each IQ keeps the access list the gateway sends it (full lists and deltas, acknowledged) and buffers
  its events while offline, uploading them in order when it reconnects.`;

const CredentialsFile = z.array(
  z.object({
    serial: z.string().min(1),
    secret: z.string().min(1),
    model: z.string().min(1),
    firmware: z.string().min(1),
  }),
);

const { values } = parseArgs({
  options: {
    credentials: { type: 'string' },
    api: { type: 'string' },
    token: { type: 'string' },
    site: { type: 'string' },
    count: { type: 'string', default: '10' },
    model: { type: 'string', default: 'IQ2' },
    firmware: { type: 'string', default: '1.0.0' },
    save: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    ports: { type: 'string', default: '40000,40001' },
    'offline-share': { type: 'string', default: '0' },
    'latency-ms': { type: 'string', default: '50' },
    'update-failure-rate': { type: 'string', default: '0' },
    'update-duration-ms': { type: 'string', default: '2000' },
    'openings-per-minute': { type: 'string', default: '0' },
    'refused-share': { type: 'string', default: '0.2' },
    help: { type: 'boolean' },
  },
});

async function credentials(): Promise<IqCredentials[]> {
  if (values.credentials)
    return CredentialsFile.parse(JSON.parse(await readFile(values.credentials, 'utf8')));
  if (!values.api || !values.token || !values.site)
    throw new Error('give --credentials, or --api, --token and --site');
  const registered = await registerIqs({
    baseUrl: values.api,
    token: values.token,
    siteId: values.site,
    count: Number(values.count),
    model: values.model,
    firmware: values.firmware,
  });
  if (values.save) await writeFile(values.save, JSON.stringify(registered, null, 2), { mode: 0o600 });
  return registered;
}

if (values.help) {
  console.log(usage);
  process.exit(0);
}
try {
  const fleet = await startFleet({
    credentials: await credentials(),
    host: values.host,
    ports: values.ports.split(',').map(Number),
    offlineShare: Number(values['offline-share']),
    latencyMs: Number(values['latency-ms']),
    update: {
      failureRate: Number(values['update-failure-rate']),
      durationMs: Number(values['update-duration-ms']),
    },
    openings: {
      perMinute: Number(values['openings-per-minute']),
      refusedShare: Number(values['refused-share']),
    },
  });
  console.log(
    `[iq-sim] ${fleet.online.length} IQs connected, ${fleet.offline.length} kept offline, ${fleet.failed.length} failed`,
  );
  for (const failure of fleet.failed) console.log(`[iq-sim]   ${failure.serial}: ${failure.error}`);
  const report = setInterval(() => {
    const connected = fleet.online.filter((iq) => iq.connected).length;
    const buffered = fleet.online.reduce((n, iq) => n + iq.pendingEvents.length, 0);
    console.log(`[iq-sim] ${connected}/${fleet.online.length} connected, ${buffered} events buffered`);
  }, 30_000);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, async () => {
      clearInterval(report);
      await fleet.stop();
      process.exit(0);
    });
  }
} catch (error) {
  console.error(`[iq-sim] ${(error as Error).message}\n\n${usage}`);
  process.exit(1);
}
