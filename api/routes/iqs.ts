import { randomBytes } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { DbOrTx } from '../../db/client';
import { recordEvent } from '../../db/queries/events';
import { findSiteIq, type Iq, insertIq, isSerialTaken, listIqs, updateIq } from '../../db/queries/iqs';
import { findCurrentTerm, lockSite, slotUsage } from '../../db/queries/subscriptions';
import { hashDeviceSecret } from '../../domain/secrets';
import { errorField, logger } from '../../observability/logger';
import type { AppDeps } from '../deps';
import { notFound, problem } from '../problem';
import { createRouter } from '../router';
import { jsonBody, problemResponses, SITE_PROBLEMS, SiteIdParam } from '../schemas';
import { siteAccess } from '../site-access';

const IqSchema = z
  .object({
    id: z.uuid(),
    serial: z.string(),
    model: z.string(),
    name: z.string().nullable(),
    subscribed: z.boolean(),
    online: z.boolean(),
    firmware: z.string().nullable(),
    accessVersion: z.number().int().openapi({
      description: 'K7: the version of the access list the IQ should hold (rises by one per change)',
    }),
    accessAcked: z.number().int().openapi({
      description:
        'K7: the version the IQ last confirmed holding; below accessVersion the IQ is behind (offline, unsubscribed, or catching up)',
    }),
  })
  .openapi('Iq');

const iqJson = (iq: Iq) => ({
  id: iq.id,
  serial: iq.serial,
  model: iq.model,
  name: iq.name,
  subscribed: iq.subscribed,
  online: iq.online,
  firmware: iq.firmware,
  accessVersion: iq.accessVersion,
  accessAcked: iq.accessAcked,
});

// Serials and models travel in the device protocol too; the same bounds hold there (gateway/protocol.ts).
const RegisterIq = z.object({
  serial: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, dot, colon, underscore and dash only'),
  model: z.string().trim().min(1).max(64),
  name: z.string().trim().min(1).max(100).optional(),
});

const UpdateIq = z.object({
  subscribed: z.boolean().optional(),
  name: z.string().trim().min(1).max(100).optional(),
});

const IqParams = SiteIdParam.extend({ iqId: z.uuid() });

const register = createRoute({
  method: 'post',
  path: '/{siteId}/iqs',
  tags: ['IQs and locks'],
  summary:
    'Register an IQ. The device secret is shown once (only its SHA-256 is kept); the IQ is subscribed when an IQ slot is free (V9)',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam, ...jsonBody(RegisterIq) },
  responses: {
    201: {
      description: 'Registered',
      content: {
        'application/json': {
          schema: z.object({ id: z.uuid(), subscribed: z.boolean(), deviceSecret: z.string() }),
        },
      },
    },
    ...problemResponses(...SITE_PROBLEMS, 'malformed_json', 'serial_taken'),
  },
});

const list = createRoute({
  method: 'get',
  path: '/{siteId}/iqs',
  tags: ['IQs and locks'],
  summary:
    'The site’s IQs with their subscription, connection state, firmware, and access list versions (current and acknowledged)',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam },
  responses: {
    200: { description: 'IQs', content: { 'application/json': { schema: z.array(IqSchema) } } },
    ...problemResponses(...SITE_PROBLEMS),
  },
});

const update = createRoute({
  method: 'patch',
  path: '/{siteId}/iqs/{iqId}',
  tags: ['IQs and locks'],
  summary: 'Rename an IQ or give it / take its slot; the connected IQ is told its new state',
  security: [{ bearer: [] }],
  request: { params: IqParams, ...jsonBody(UpdateIq) },
  responses: {
    200: { description: 'The IQ', content: { 'application/json': { schema: IqSchema } } },
    ...problemResponses(...SITE_PROBLEMS, 'malformed_json', 'no_valid_subscription', 'no_free_slot'),
  },
});

/** V9: a slot is free when the site's term is active and fewer IQs than its limit hold one. */
async function freeIqSlot(tx: DbOrTx, siteId: string): Promise<'free' | 'no_subscription' | 'full'> {
  const site = await lockSite(tx, siteId);
  const term = await findCurrentTerm(tx, siteId);
  if (site?.subscriptionStatus !== 'active' || !term) return 'no_subscription';
  const usage = await slotUsage(tx, siteId);
  return usage.iqs < term.iqsLimit ? 'free' : 'full';
}

export function iqRoutes(deps: AppDeps) {
  const { db } = deps;
  return createRouter()
    .openapi(register, async (c) => {
      const { siteId } = c.req.valid('param');
      const input = c.req.valid('json');
      // Registering is installation work: it needs no subscription, it just gets no slot without one.
      await siteAccess(deps, c, siteId, {
        roles: ['owner', 'admin', 'installer'],
        allowWithoutSubscription: true,
      });
      const deviceSecret = randomBytes(32).toString('base64url');
      try {
        const iq = await db.transaction(async (tx) => {
          const subscribed = (await freeIqSlot(tx, siteId)) === 'free';
          const now = deps.now();
          const row = await insertIq(tx, {
            siteId,
            serial: input.serial,
            model: input.model,
            name: input.name ?? null,
            secretHash: hashDeviceSecret(deviceSecret),
            subscribed,
            subscribedAt: subscribed ? now : null,
          });
          await recordEvent(tx, {
            siteId,
            type: 'iq.registered',
            actorProfileId: c.get('profile').id,
            iqId: row.id,
            data: { subscribed },
          });
          return row;
        });
        return c.json({ id: iq.id, subscribed: iq.subscribed, deviceSecret }, 201);
      } catch (error) {
        if (isSerialTaken(error)) {
          throw problem('serial_taken', undefined, {
            errors: [{ path: 'body.serial', message: 'is already registered' }],
          });
        }
        throw error;
      }
    })
    .openapi(list, async (c) => {
      const { siteId } = c.req.valid('param');
      await siteAccess(deps, c, siteId, { roles: ['owner', 'admin'], allowWithoutSubscription: true });
      return c.json((await listIqs(db, siteId)).map(iqJson), 200);
    })
    .openapi(update, async (c) => {
      const { siteId, iqId } = c.req.valid('param');
      const input = c.req.valid('json');
      await siteAccess(deps, c, siteId, { roles: ['owner', 'admin'], allowWithoutSubscription: true });
      const caller = c.get('profile').id;
      const { iq, changed } = await db.transaction(async (tx) => {
        const current = await findSiteIq(tx, siteId, iqId);
        if (!current) throw notFound('IQ');
        const changed = input.subscribed !== undefined && input.subscribed !== current.subscribed;
        if (changed && input.subscribed) {
          const slot = await freeIqSlot(tx, siteId);
          if (slot === 'no_subscription') {
            throw problem(
              'no_valid_subscription',
              'This site has no valid subscription. Redeem a voucher before subscribing IQs.',
            );
          }
          if (slot === 'full') throw problem('no_free_slot', 'Every IQ slot of the subscription is taken.');
        }
        if (!changed && input.name === undefined) return { iq: current, changed };
        const iq = await updateIq(tx, iqId, {
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(changed
            ? { subscribed: input.subscribed, subscribedAt: input.subscribed ? deps.now() : null }
            : {}),
        });
        if (changed) {
          await recordEvent(tx, {
            siteId,
            type: input.subscribed ? 'iq.subscribed' : 'iq.unsubscribed',
            actorProfileId: caller,
            iqId,
          });
        }
        return { iq, changed };
      });
      if (changed) {
        // Committed already: a failed push is not the caller's failure; the IQ learns it at its next hello.
        await deps.gateway.subscriptionChanged(siteId).catch((error: unknown) => {
          logger.error({ err: errorField(error) }, 'could not tell the gateway');
        });
      }
      return c.json(iqJson(iq), 200);
    });
}
