import { createRoute, z } from '@hono/zod-openapi';
import { type Iq, listIqs } from '../../db/queries/iqs';
import { hashDeviceSecret, newDeviceSecret } from '../../domain/secrets';
import { errorField, logger } from '../../observability/logger';
import { changeIq, registerIq } from '../../operations/iqs';
import type { AppDeps } from '../deps';
import { createRouter } from '../router';
import { displayName, IdField, jsonBody, problemResponses, SITE_PROBLEMS, SiteIdParam } from '../schemas';
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
  // Shown to people as the IQ's model: held as its name is.
  model: displayName(64),
  name: displayName(100).optional(),
});

const UpdateIq = z.object({
  subscribed: z.boolean().optional(),
  name: displayName(100).optional(),
});

const IqParams = SiteIdParam.extend({ iqId: IdField });

const register = createRoute({
  method: 'post',
  path: '/{siteId}/iqs',
  operationId: 'registerIq',
  tags: ['IQs and locks'],
  summary:
    'Register an IQ. The device secret is shown once (only its SHA-256 is kept); the IQ is subscribed when an IQ slot is free (V9). Installation work needs no subscription while the site never had one; an expired site answers 403 no_valid_subscription (V7).',
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
    ...problemResponses(...SITE_PROBLEMS, 'malformed_json', 'serial_taken', 'no_valid_subscription'),
  },
});

const list = createRoute({
  method: 'get',
  path: '/{siteId}/iqs',
  operationId: 'listIqs',
  tags: ['IQs and locks'],
  summary:
    'The site’s IQs with their subscription, connection state, firmware, and access list versions (current and acknowledged)',
  security: [{ bearer: [] }],
  request: { params: SiteIdParam },
  responses: {
    200: { description: 'IQs', content: { 'application/json': { schema: z.array(IqSchema) } } },
    ...problemResponses(...SITE_PROBLEMS, 'no_valid_subscription'),
  },
});

const update = createRoute({
  method: 'patch',
  path: '/{siteId}/iqs/{iqId}',
  operationId: 'updateIq',
  tags: ['IQs and locks'],
  summary: 'Rename an IQ or give it / take its slot; the connected IQ is told its new state',
  security: [{ bearer: [] }],
  request: { params: IqParams, ...jsonBody(UpdateIq) },
  responses: {
    200: { description: 'The IQ', content: { 'application/json': { schema: IqSchema } } },
    ...problemResponses(...SITE_PROBLEMS, 'malformed_json', 'no_valid_subscription', 'no_free_slot'),
  },
});

export function iqRoutes(deps: AppDeps) {
  const { db } = deps;
  return createRouter()
    .openapi(register, async (c) => {
      const { siteId } = c.req.valid('param');
      const input = c.req.valid('json');
      // Installation work: a site that never had a term takes it (without a slot); an expired one does not (V7).
      const { actor } = await siteAccess(deps, c, siteId, {
        roles: ['owner', 'admin', 'installer'],
        installationWork: true,
      });
      const deviceSecret = newDeviceSecret();
      const iq = await registerIq(db, {
        siteId,
        serial: input.serial,
        model: input.model,
        name: input.name ?? null,
        secretHash: hashDeviceSecret(deviceSecret),
        actor,
        now: deps.now(),
      });
      return c.json({ id: iq.id, subscribed: iq.subscribed, deviceSecret }, 201);
    })
    .openapi(list, async (c) => {
      const { siteId } = c.req.valid('param');
      await siteAccess(deps, c, siteId, { roles: ['owner', 'admin'], installationWork: true });
      return c.json((await listIqs(db, siteId)).map(iqJson), 200);
    })
    .openapi(update, async (c) => {
      const { siteId, iqId } = c.req.valid('param');
      const input = c.req.valid('json');
      const { actor } = await siteAccess(deps, c, siteId, {
        roles: ['owner', 'admin'],
        installationWork: true,
      });
      const { iq, changed } = await changeIq(db, {
        siteId,
        iqId,
        ...input,
        actor,
        now: deps.now(),
      });
      if (changed) {
        // Committed already: a failed push is not the caller's failure; its gateway tells the IQ at its next heartbeat flush.
        await deps.gateway.subscriptionChanged(siteId).catch((error: unknown) => {
          logger.error({ err: errorField(error) }, 'could not tell the gateway');
        });
      }
      return c.json(iqJson(iq), 200);
    });
}
