import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { recordLockOpened } from '../../db/queries/events';
import { findOpenTarget, type Lock, listLocks, type OpenTarget } from '../../db/queries/locks';
import { recordEventForOwner } from '../../db/queries/notification-outbox';
import { type OpenRefusal, openRefusal } from '../../domain/remote-open';
import { addLock } from '../../operations/locks';
import { readOf } from '../auth/reads-with-session';
import type { AppDeps, AppEnv } from '../deps';
import { notFound, problem } from '../problem';
import { createRouter } from '../router';
import { displayName, IdField, jsonBody, problemResponses, SITE_PROBLEMS, SiteIdParam } from '../schemas';
import { siteAccess } from '../site-access';

const LockSchema = z.object({ id: z.uuid(), iqId: z.uuid(), name: z.string() }).openapi('Lock');
const lockJson = (lock: Lock) => ({ id: lock.id, iqId: lock.iqId, name: lock.name });

const LockParams = SiteIdParam.extend({ lockId: IdField });

const create = createRoute({
  method: 'post',
  path: '/{siteId}/locks',
  operationId: 'createLock',
  tags: ['IQs and locks'],
  summary: 'Add a lock (door) to one of the site’s IQs; there is no limit per site (S2)',
  security: [{ bearer: [] }],
  request: {
    params: SiteIdParam,
    ...jsonBody(z.object({ iqId: IdField, name: displayName(100) })),
  },
  responses: {
    201: { description: 'Created', content: { 'application/json': { schema: LockSchema } } },
    // not_found: also an IQ that is not one of this site's.
    ...problemResponses(...SITE_PROBLEMS, 'malformed_json', 'no_valid_subscription'),
  },
});

const list = createRoute({
  method: 'get',
  path: '/{siteId}/locks',
  operationId: 'listLocks',
  tags: ['IQs and locks'],
  summary: 'The site’s locks',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam },
  responses: {
    200: { description: 'Locks', content: { 'application/json': { schema: z.array(LockSchema) } } },
    ...problemResponses(...SITE_PROBLEMS, 'no_valid_subscription'),
  },
});

const open = createRoute({
  method: 'post',
  path: '/{siteId}/locks/{lockId}/open',
  operationId: 'openLock',
  tags: ['IQs and locks'],
  summary:
    'Open a lock remotely (K4). Needs an active `remote` access method (a PIN, tag or mobile key opens at ' +
    'the door only). Every attempt, allowed or refused, is recorded as an event. A silent IQ answers 409 ' +
    '`iq_timeout`, not a 5xx: the door state is the device’s, not a server fault.',
  security: [{ bearer: [] }],
  request: { params: LockParams },
  responses: {
    200: {
      description: 'The IQ opened the lock',
      content: { 'application/json': { schema: z.object({ result: z.literal('opened') }) } },
    },
    ...problemResponses(
      ...SITE_PROBLEMS,
      'no_valid_subscription',
      'user_unsubscribed',
      'no_access',
      'iq_unsubscribed',
      'iq_offline',
      'open_refused',
      'iq_timeout',
    ),
  },
});

type RefusalCode = OpenRefusal | 'iq_timeout';
/** Where an open's refusal reads differently from the catalogue's wording. */
const REFUSAL_DETAILS: Partial<Record<RefusalCode, string>> = {
  no_valid_subscription: 'This site has no valid subscription.',
  iq_unsubscribed: 'The lock’s IQ is not subscribed and takes no lock requests (K5).',
};

export function lockRoutes(deps: AppDeps) {
  const { db } = deps;

  // K6: a refused opening the owner chose is queued with its event and handed to the site's
  // notifications workflow without holding up the answer.
  const record = async (
    c: Context<AppEnv>,
    lock: OpenTarget['lock'],
    type: string,
    data?: Record<string, unknown>,
  ) => {
    const queued = await recordEventForOwner(db, {
      id: randomUUID(),
      siteId: lock.siteId,
      type,
      actorProfileId: c.get('profile').id,
      lockId: lock.id,
      iqId: lock.iqId,
      ...(data ? { data } : {}),
    });
    // Not awaited: the answer does not wait for Temporal; handOver never throws, the sweep retries.
    if (queued) void deps.notifications.handOver();
  };

  const refuse = async (
    c: Context<AppEnv>,
    lock: OpenTarget['lock'],
    code: RefusalCode,
    requestId?: string,
  ): Promise<never> => {
    await record(c, lock, 'lock.open_refused', { reason: code, ...(requestId ? { requestId } : {}) });
    throw problem(code, REFUSAL_DETAILS[code]);
  };

  return createRouter()
    .openapi(create, async (c) => {
      const { siteId } = c.req.valid('param');
      const { iqId, name } = c.req.valid('json');
      // Installation work (S1, V7): a site that never had a term takes it; an expired one does not.
      const { actor } = await siteAccess(deps, c, siteId, {
        roles: ['owner', 'admin', 'installer'],
        installationWork: true,
      });
      const lock = await addLock(db, { siteId, iqId, name, actor });
      return c.json(lockJson(lock), 201);
    })
    .openapi(list, async (c) => {
      const { siteId } = c.req.valid('param');
      await siteAccess(deps, c, siteId, {
        roles: ['owner', 'admin', 'user', 'installer'],
        installationWork: true,
      });
      return c.json((await listLocks(db, siteId)).map(lockJson), 200);
    })
    .openapi(open, async (c) => {
      const { siteId, lockId } = c.req.valid('param');
      // Members only; a stranger's attempt at an unknown site or lock is a 404 and no site's event.
      const { site, membership, read } = await siteAccess(deps, c, siteId, {
        roles: ['owner', 'admin', 'user'],
        allowWithoutSubscription: true,
      });
      // K4's facts (the lock, its IQ, the caller's remote access method) came with the session
      // (api/auth/reads-with-session.ts); read here only when they did not.
      const opening = readOf(read, 'lockOpen');
      const target = opening
        ? opening.openTarget
        : await findOpenTarget(db, { siteId, lockId, callerId: c.get('profile').id });
      if (!target) throw notFound('lock');
      const { lock } = target;
      const refusal = openRefusal({
        siteActive: site.subscriptionStatus === 'active',
        memberSubscribed: membership?.subscribed === true,
        remoteAccess: target.remoteAccess,
        iqSubscribed: target.iqSubscribed === true,
        iqOnline: target.iqOnline === true,
      });
      if (refusal) return refuse(c, lock, refusal);

      // The request's id names the timeout's event, and the opening the IQ may report after it.
      const requestId = randomUUID();
      const answer = await deps.gateway.openLock({
        iqId: lock.iqId,
        lockId: lock.id,
        requestId,
        actorProfileId: c.get('profile').id,
        commandUrl: target.commandUrl,
      });
      if (answer.outcome === 'opened') {
        await recordLockOpened(db, {
          siteId: lock.siteId,
          actorProfileId: c.get('profile').id,
          lockId: lock.id,
          iqId: lock.iqId,
        });
        return c.json({ result: 'opened' as const }, 200);
      }
      if (answer.outcome === 'refused') {
        await record(c, lock, 'lock.open_refused', { reason: 'open_refused', deviceReason: answer.reason });
        throw problem('open_refused', `The IQ refused to open the lock: ${answer.reason}.`);
      }
      if (answer.outcome === 'offline') return refuse(c, lock, 'iq_offline');
      return refuse(c, lock, 'iq_timeout', requestId);
    });
}
