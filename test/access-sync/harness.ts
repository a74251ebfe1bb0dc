import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect } from 'vitest';
import { iqs } from '../../db/schema';
import type { AccessGrant } from '../../domain/access-sync';
import type { GatewayMessage } from '../../gateway/protocol';
import { type RunningGateway, startGateway } from '../../gateway/server';
import {
  type IqCredentials,
  type SimulatedIq,
  type SimulatedIqOptions,
  startSimulatedIq,
} from '../../iq-sim/iq';
import { LOOPBACK_FLEET_GUARD } from '../gateway/helpers';
import { addMember, createSite, voucher } from '../support/fixtures';
import { startTestSystem, type TestSystem } from '../support/system';

/**
 * Access sync driven the way people drive it: the HTTP API of a test system, a device gateway on real
 * TCP, and simulated IQs. Memberships are written straight to the database (joining a site is not
 * what these tests are about); every access change goes through the API.
 */
export interface Person {
  id: string;
  token: string;
}

type Body = Record<string, unknown>;

export function api(sys: TestSystem) {
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await sys.request(method, path, { token, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Body };
  };
  const ok = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await call(method, path, token, body);
    if (res.status >= 300)
      throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  let serials = 0;
  return {
    call,
    ok,
    /** A released site with an active term (a voucher redeemed through the API), owned by a new profile. */
    async site(opts: { usersLimit?: number; iqsLimit?: number; durationDays?: number } = {}) {
      const owner = await sys.signIn();
      const site = await createSite(sys, owner.id);
      const v = await voucher(sys, {
        usersLimit: opts.usersLimit ?? 20,
        iqsLimit: opts.iqsLimit ?? 10,
        durationDays: opts.durationDays ?? 365,
      });
      await ok('POST', `/sites/${site.id}/subscription/redemptions`, owner.token, { code: v.code });
      return { siteId: site.id, owner };
    },
    async member(siteId: string): Promise<Person> {
      const person = await sys.signIn();
      await addMember(sys, siteId, person.id, { access: false });
      return { id: person.id, token: person.token };
    },
    /** An IQ registered through the API with `locks` locks; its credentials for a simulated IQ. */
    async iq(siteId: string, token: string, locks = 1) {
      const serial = `IQ-AS-${Date.now()}-${serials++}-${randomUUID().slice(0, 4)}`;
      const body = await ok('POST', `/sites/${siteId}/iqs`, token, { serial, model: 'IQ2' });
      const lockIds: string[] = [];
      for (let i = 0; i < locks; i++) {
        lockIds.push(
          (await ok('POST', `/sites/${siteId}/locks`, token, { iqId: body.id, name: `Door ${i}` }))
            .id as string,
        );
      }
      return {
        id: body.id as string,
        subscribed: body.subscribed as boolean,
        lockIds,
        credentials: { serial, secret: body.deviceSecret as string, model: 'IQ2', firmware: '1.0.0' },
      };
    },
    async tag(siteId: string, token: string, profileId: string, tagUid = `TAG-${randomUUID().slice(0, 8)}`) {
      const body = await ok('POST', `/sites/${siteId}/people/${profileId}/access`, token, {
        kind: 'tag',
        tagUid,
      });
      return { id: body.id as string, tagUid };
    },
    async pin(siteId: string, token: string, profileId: string, iqId: string) {
      const body = await ok('POST', `/sites/${siteId}/people/${profileId}/access`, token, {
        kind: 'pin',
        iqId,
      });
      return { id: body.id as string, pin: body.pin as string };
    },
    revoke: (siteId: string, token: string, profileId: string, accessId: string) =>
      ok('DELETE', `/sites/${siteId}/people/${profileId}/access/${accessId}`, token),
  };
}

/** A simulated IQ that the test stops at the end. */
export function simulator(defaults: Pick<SimulatedIqOptions, 'ports'> & Partial<SimulatedIqOptions>) {
  const started: SimulatedIq[] = [];
  return {
    async start(credentials: IqCredentials, opts: Partial<SimulatedIqOptions> = {}) {
      const iq = await startSimulatedIq({ ...defaults, ...credentials, ...opts });
      started.push(iq);
      return iq;
    },
    stopAll: () => Promise.all(started.map((iq) => iq.stop())),
  };
}

/**
 * What the database says the IQ should hold, written independently of the code under test: every
 * active tag and mobile key of a subscribed member of the IQ's site, and their PINs on this IQ, each
 * for the IQ's locks; nothing when it has no lock.
 */
export async function expectedList(sys: TestSystem, iqId: string) {
  const locks = await sys.sql<{ id: string }[]>`select id from locks where iq_id = ${iqId} order by id`;
  if (locks.length === 0) return new Map<string, Omit<AccessGrant, 'pinHash'>>();
  const rows = await sys.sql<
    { id: string; profile_id: string; kind: AccessGrant['kind']; tag_uid: string | null }[]
  >`
    select am.id, am.profile_id, am.kind, am.tag_uid
    from access_methods am
    join iqs i on i.site_id = am.site_id
    join memberships m on m.site_id = am.site_id and m.profile_id = am.profile_id
    where i.id = ${iqId} and am.status = 'active' and m.subscribed
      and (am.kind in ('tag', 'mobile_key') or (am.kind = 'pin' and am.iq_id = i.id))`;
  const lockIds = locks.map((l) => l.id);
  return new Map(
    rows.map((r) => [
      r.id,
      {
        credentialId: r.id,
        memberId: r.profile_id,
        kind: r.kind,
        lockIds,
        ...(r.tag_uid ? { tagUid: r.tag_uid } : {}),
      },
    ]),
  );
}

/** The simulated IQ's list as the oracle spells it (PIN hashes are checked by opening with the PIN). */
export function heldList(iq: SimulatedIq) {
  return new Map(
    [...iq.accessList.values()].map((g) => {
      const { pinHash: _, ...rest } = g;
      return [g.credentialId, { ...rest, lockIds: [...rest.lockIds].sort() }];
    }),
  );
}

export async function iqVersions(sys: TestSystem, iqId: string) {
  const [row] = await sys.db
    .select({ version: iqs.accessVersion, acked: iqs.accessAcked, subscribed: iqs.subscribed })
    .from(iqs)
    .where(eq(iqs.id, iqId));
  return row!;
}

/** Until the simulated IQ holds the IQ's current version and the gateway recorded its ack. */
export async function untilInSync(sys: TestSystem, iqId: string, iq: SimulatedIq, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await iqVersions(sys, iqId);
    if (iq.accessVersion === v.version && v.acked === v.version) return v.version;
    if (Date.now() > deadline) {
      throw new Error(`IQ not in sync: holds ${iq.accessVersion}, database ${JSON.stringify(v)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function expectHoldsWhatTheDatabaseSays(sys: TestSystem, iqId: string, iq: SimulatedIq) {
  await untilInSync(sys, iqId, iq);
  expect(heldList(iq)).toEqual(await expectedList(sys, iqId));
}

type AccessMessage = Extract<GatewayMessage, { type: 'access' }>;

/** Every access message the IQ receives from now on, in order (its `received` is bounded). */
export function recordAccess(iq: SimulatedIq): AccessMessage[] {
  const seen: AccessMessage[] = [];
  // waitFor first looks through what was received already: only what comes after counts.
  let live = false;
  iq.waitFor((m) => {
    if (live && m.type === 'access') seen.push(m);
    return false;
  }, 600_000).catch(() => {});
  live = true;
  return seen;
}

/**
 * A test system, a device gateway on loopback (acks awaited 1 s) and simulated IQs, started in
 * beforeAll and stopped in afterAll; read its parts inside tests. `heartbeatSeconds`: the gateway's
 * liveness flush (1 s unless a test needs production's); `handsOverNotifications`: the gateway hands
 * owner notifications to the test system's relay as it queues them.
 */
export function accessSyncSystem(options: {
  name: string;
  heartbeatSeconds?: number;
  handsOverNotifications?: boolean;
}) {
  let sys: TestSystem | undefined;
  let gateway: RunningGateway | undefined;
  let sims: ReturnType<typeof simulator> | undefined;
  let a: ReturnType<typeof api> | undefined;
  beforeAll(async () => {
    const started = await startTestSystem({});
    sys = started;
    gateway = await startGateway({
      guard: LOOPBACK_FLEET_GUARD,
      db: started.db,
      sql: started.sql,
      ports: [0],
      instanceId: `gw-${options.name}-${randomUUID().slice(0, 8)}`,
      heartbeatSeconds: options.heartbeatSeconds ?? 1,
      host: '127.0.0.1',
      accessAckTimeoutMs: 1_000,
      ...(options.handsOverNotifications
        ? { onNotificationQueued: () => void started.notifications.handOver() }
        : {}),
    });
    a = api(started);
    sims = simulator({ ports: gateway.ports });
  });
  afterAll(async () => {
    await sims?.stopAll();
    await gateway?.stop();
    await sys?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the access-sync system starts in beforeAll');
    return value;
  };
  return {
    get sys() {
      return started(sys);
    },
    get gateway() {
      return started(gateway);
    },
    get sims() {
      return started(sims);
    },
    get a() {
      return started(a);
    },
  };
}
