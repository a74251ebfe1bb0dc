import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { expect } from 'vitest';
import { type RunningGateway, startGateway } from '../../gateway/server';
import { type SimulatedIq, startSimulatedIq } from '../../iq-sim/iq';
import { voucher } from '../support/fixtures';
import { linkIn } from '../support/people';
import { startTestSystem, type TestSystem } from '../support/system';

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON. */
  body: Record<string, unknown> & { code?: string };
}

export type Person = Awaited<ReturnType<TestSystem['signIn']>>;

/**
 * The product as a hostile user meets it: the app served over real TCP on a free loopback port, and
 * (when asked) a device gateway with simulated IQs on real TCP, over a fresh database and a real
 * Temporal worker.
 */
export interface PeopleSecurity {
  sys: TestSystem;
  baseUrl: string;
  http(
    method: string,
    path: string,
    opts?: { token?: string | undefined; body?: unknown; form?: Record<string, string> },
  ): Promise<Answer>;
  /** An IQ online on the gateway for this registered IQ. */
  connectIq(iq: { serial: string; secret: string }): Promise<SimulatedIq>;
  close(): Promise<void>;
}

export async function startPeopleSecurity(
  opts: { gateway?: boolean; appPoolSize?: number } = {},
): Promise<PeopleSecurity> {
  const sys = await startTestSystem(opts.appPoolSize === undefined ? {} : { appPoolSize: opts.appPoolSize });
  const server = serve({ fetch: sys.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let gateway: RunningGateway | undefined;
  if (opts.gateway) {
    gateway = await startGateway({
      db: sys.db,
      sql: sys.sql,
      ports: [0],
      instanceId: `gw-security-${randomUUID().slice(0, 8)}`,
      heartbeatSeconds: 1,
      host: '127.0.0.1',
    });
  }
  const devices: SimulatedIq[] = [];
  return {
    sys,
    baseUrl,
    async http(method, path, { token, body, form } = {}) {
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      let payload: string | undefined;
      if (form) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        payload = new URLSearchParams(form).toString();
      } else if (body !== undefined) {
        headers['content-type'] = 'application/json';
        payload = JSON.stringify(body);
      }
      const res = await fetch(`${baseUrl}${path}`, { method, headers, body: payload ?? null });
      const text = await res.text();
      let parsed: Answer['body'] = {};
      if (/json/.test(res.headers.get('content-type') ?? '') && text) parsed = JSON.parse(text);
      return { status: res.status, headers: res.headers, text, body: parsed };
    },
    async connectIq(iq) {
      if (!gateway) throw new Error('started without a gateway');
      const device = await startSimulatedIq({ ...iq, model: 'IQ2', firmware: '1.0.0', ports: gateway.ports });
      devices.push(device);
      return device;
    },
    async close() {
      await Promise.all(devices.map((d) => d.stop()));
      await gateway?.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sys.close();
    },
  };
}

export const newEmail = (tag = 'p') => `${tag}-${randomUUID()}@example.test`;

/** Asserts an answer's status (and problem code), with the body in the message when it differs. */
export function expectAnswer(answer: Answer, status: number, code?: string) {
  expect(answer.status, `${answer.status} ${answer.text.slice(0, 300)}`).toBe(status);
  if (code) expect(answer.body.code).toBe(code);
  return answer;
}

/** Invites `email` to the site through the API (S7); the invitation as answered. */
export async function invite(
  t: PeopleSecurity,
  token: string,
  siteId: string,
  email: string,
  role: 'owner' | 'admin' | 'user' = 'user',
) {
  const answer = expectAnswer(
    await t.http('POST', `/sites/${siteId}/people`, { token, body: { email, role } }),
    201,
  );
  return answer.body as {
    status: 'invited';
    invitationId: string;
    email: string;
    role: string;
    expiresAt: string;
  };
}

/** The newest invitation link emailed to `email`. */
export const invitationLink = (t: PeopleSecurity, email: string) => linkIn(t.sys, email, '/invitations/');

/** Accepts the newest invitation of a person who has a profile (the page asks for nothing more). */
export async function acceptAsProfile(t: PeopleSecurity, email: string) {
  const link = await invitationLink(t, email);
  return expectAnswer(await t.http('POST', link, { form: {} }), 200);
}

/** An active site owned by `owner` (created through the API, with a redeemed voucher). */
export async function ownedActiveSite(
  t: PeopleSecurity,
  owner: Person,
  limits = { usersLimit: 10, iqsLimit: 3 },
) {
  const created = expectAnswer(
    await t.http('POST', '/sites', {
      token: owner.token,
      body: { name: `Site ${randomUUID().slice(0, 6)}` },
    }),
    201,
  );
  const siteId = created.body.id as string;
  await redeem(t, owner.token, siteId, limits);
  return siteId;
}

export async function redeem(
  t: PeopleSecurity,
  token: string,
  siteId: string,
  limits = { usersLimit: 10, iqsLimit: 3 },
) {
  const v = await voucher(t.sys, limits);
  expectAnswer(
    await t.http('POST', `/sites/${siteId}/subscription/redemptions`, { token, body: { code: v.code } }),
    200,
  );
}

/** A member of the site by the only door there is: invited by `managerToken`, accepted by them. */
export async function member(
  t: PeopleSecurity,
  managerToken: string,
  siteId: string,
  role: 'admin' | 'user' = 'user',
): Promise<Person> {
  const person = await t.sys.signIn();
  await invite(t, managerToken, siteId, person.email, role);
  await acceptAsProfile(t, person.email);
  return person;
}

/** Ids of a site's things, to fill in every site endpoint's path. */
export interface SiteIds {
  siteId: string;
  iqId: string;
  lockId: string;
  /** A member of the site other than the caller (an admin, so ownership may go to them). */
  profileId: string;
  /** An access method of that member. */
  accessId: string;
  invitationId: string;
}

/**
 * A valid request for every endpoint under /sites/{siteId}: valid, so that a refusal can only come
 * from who the caller is. Keyed like the OpenAPI document (`METHOD path`); `everySiteEndpoint` fails
 * when the app has a site endpoint this table lacks.
 */
const SITE_ENDPOINTS: Record<string, (i: SiteIds, callerId: string) => { path: string; body?: unknown }> = {
  'GET /sites/{siteId}': (i) => ({ path: `/sites/${i.siteId}` }),
  'POST /sites/{siteId}/release': (i) => ({ path: `/sites/${i.siteId}/release` }),
  'POST /sites/{siteId}/ownership': (i) => ({
    path: `/sites/${i.siteId}/ownership`,
    body: { profileId: i.profileId },
  }),
  'GET /sites/{siteId}/people': (i) => ({ path: `/sites/${i.siteId}/people` }),
  'POST /sites/{siteId}/people': (i) => ({
    path: `/sites/${i.siteId}/people`,
    body: { email: newEmail('again'), role: 'admin' },
  }),
  'PATCH /sites/{siteId}/people/{profileId}': (i) => ({
    path: `/sites/${i.siteId}/people/${i.profileId}`,
    body: { role: 'user' },
  }),
  // The caller themself: leaving, the path left to someone with no role to remove others.
  'DELETE /sites/{siteId}/people/{profileId}': (i, callerId) => ({
    path: `/sites/${i.siteId}/people/${callerId}`,
  }),
  'DELETE /sites/{siteId}/invitations/{invitationId}': (i) => ({
    path: `/sites/${i.siteId}/invitations/${i.invitationId}`,
  }),
  'POST /sites/{siteId}/people/{profileId}/access': (i) => ({
    path: `/sites/${i.siteId}/people/${i.profileId}/access`,
    body: { kind: 'remote' },
  }),
  'DELETE /sites/{siteId}/people/{profileId}/access/{accessId}': (i) => ({
    path: `/sites/${i.siteId}/people/${i.profileId}/access/${i.accessId}`,
  }),
  'POST /sites/{siteId}/people/{profileId}/pin-reset': (i) => ({
    path: `/sites/${i.siteId}/people/${i.profileId}/pin-reset`,
    body: { iqId: i.iqId },
  }),
  'POST /sites/{siteId}/iqs': (i) => ({
    path: `/sites/${i.siteId}/iqs`,
    body: { serial: `SN-${randomUUID()}`, model: 'IQ2' },
  }),
  'GET /sites/{siteId}/iqs': (i) => ({ path: `/sites/${i.siteId}/iqs` }),
  'PATCH /sites/{siteId}/iqs/{iqId}': (i) => ({
    path: `/sites/${i.siteId}/iqs/${i.iqId}`,
    body: { name: 'x' },
  }),
  'POST /sites/{siteId}/iqs/{iqId}/reset': (i) => ({ path: `/sites/${i.siteId}/iqs/${i.iqId}/reset` }),
  'POST /sites/{siteId}/locks': (i) => ({
    path: `/sites/${i.siteId}/locks`,
    body: { iqId: i.iqId, name: 'x' },
  }),
  'GET /sites/{siteId}/locks': (i) => ({ path: `/sites/${i.siteId}/locks` }),
  'POST /sites/{siteId}/locks/{lockId}/open': (i) => ({ path: `/sites/${i.siteId}/locks/${i.lockId}/open` }),
  'GET /sites/{siteId}/events': (i) => ({ path: `/sites/${i.siteId}/events` }),
  'PUT /sites/{siteId}/notifications': (i) => ({
    path: `/sites/${i.siteId}/notifications`,
    body: { eventTypes: ['tamper'] },
  }),
  'GET /sites/{siteId}/subscription': (i) => ({ path: `/sites/${i.siteId}/subscription` }),
  'POST /sites/{siteId}/subscription/redemptions': (i) => ({
    path: `/sites/${i.siteId}/subscription/redemptions`,
    body: { code: 'ABCD-EFGH-JKMN-PQRS-TVWX' },
  }),
};

/**
 * Calls every endpoint of the site as `caller` and returns the answers that are not 404; fails when
 * the app has a site endpoint without a row above (a new endpoint must say how it is called).
 */
export async function everySiteEndpoint(t: PeopleSecurity, caller: Person, ids: SiteIds) {
  const doc = (await t.http('GET', '/openapi.json')).body as unknown as {
    paths: Record<string, Record<string, unknown>>;
  };
  const inApp = Object.entries(doc.paths)
    .filter(([path]) => path.startsWith('/sites/{siteId}'))
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
  expect(
    inApp.filter((e) => !(e in SITE_ENDPOINTS)),
    'site endpoints without a row',
  ).toEqual([]);
  const answers: Record<string, string> = {};
  for (const endpoint of inApp) {
    const method = endpoint.split(' ')[0]!;
    const { path, body } = SITE_ENDPOINTS[endpoint]!(ids, caller.id);
    const answer = await t.http(method, path, { token: caller.token, body });
    answers[endpoint] = `${answer.status} ${answer.body.code ?? ''}`.trim();
  }
  return answers;
}

/** What every endpoint of a site answers someone with no role there (N4). */
export const notFoundEverywhere = (answers: Record<string, string>) =>
  Object.fromEntries(Object.keys(answers).map((k) => [k, '404 not_found']));
