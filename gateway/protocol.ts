import { z } from 'zod';

/** The device protocol of API.md: newline-delimited JSON, one object a line, at most 64 KiB a line. */
export const MAX_LINE_BYTES = 64 * 1024;

/** K8: what a lock reports through its IQ: openings at the door, refusals and alarms. */
export const EVENT_KINDS = [
  'opened',
  'open_refused',
  'tamper',
  'door_left_open',
  'low_battery',
  'intrusion',
] as const;
export type DeviceEventKind = (typeof EVENT_KINDS)[number];

// Bounds keep a misbehaving device from filling the database through fields we store; PostgreSQL
// text cannot hold NUL, so a string with one is a bad message rather than a failed write later.
const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => !s.includes('\u0000'));
const id = text(100);
const short = text(200);
/** Versions of an IQ's access list (K7): a non-negative int4, as stored. */
const version = z.number().int().min(0).max(2_147_483_647);
/** An IQ's own event id (K8): a string, or a counter. */
const eventId = z.union([id, z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)]);

export const HelloSchema = z.object({
  type: z.literal('hello'),
  serial: text(64),
  secret: text(256),
  model: text(64),
  firmware: text(64),
  /** The access version the IQ holds (K7); absent when it holds none it knows of. */
  accessVersion: version.optional(),
});

export const DeviceMessageSchema = z.discriminatedUnion('type', [
  HelloSchema,
  z.object({ type: z.literal('heartbeat') }),
  z.object({ type: z.literal('open-result'), requestId: id, ok: z.boolean(), reason: short.optional() }),
  z.object({
    type: z.literal('update-status'),
    updateId: id,
    state: z.enum(['downloading', 'installing', 'failed']),
    error: short.optional(),
  }),
  z.object({
    type: z.literal('event'),
    eventId,
    lockId: z.uuid(),
    kind: z.enum(EVENT_KINDS),
    at: z.iso.datetime({ offset: true }).optional(),
    credentialId: z.uuid().optional(),
  }),
  z.object({ type: z.literal('access-ack'), version }),
]);
export type DeviceMessage = z.infer<typeof DeviceMessageSchema>;

export const AccessGrantSchema = z.object({
  credentialId: z.uuid(),
  memberId: z.uuid(),
  kind: z.enum(['tag', 'mobile_key', 'pin']),
  lockIds: z.array(z.uuid()),
  tagUid: short.optional(),
  pinHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});

export const GatewayMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('welcome'),
    subscribed: z.boolean(),
    heartbeatSeconds: z.number().int().positive(),
  }),
  z.object({ type: z.literal('error'), code: z.enum(['auth_failed', 'bad_message', 'throttled']) }),
  z.object({ type: z.literal('subscription'), subscribed: z.boolean() }),
  z.object({ type: z.literal('open'), requestId: id, lockId: z.uuid() }),
  z.object({
    type: z.literal('update'),
    updateId: id,
    version: z.string().min(1).max(64),
    url: z.string().min(1).max(2048),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    sizeBytes: z.number().int().nonnegative(),
  }),
  z.object({
    type: z.literal('access'),
    version,
    full: z.boolean(),
    grants: z.array(AccessGrantSchema),
    revokes: z.array(z.uuid()),
  }),
  z.object({ type: z.literal('event-ack'), eventId }),
]);
export type GatewayMessage = z.infer<typeof GatewayMessageSchema>;

export type Parsed<T> = { ok: true; message: T } | { ok: false };

function parseWith<T>(schema: z.ZodType<T>, line: string): Parsed<T> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false };
  }
  const result = schema.safeParse(value);
  return result.success ? { ok: true, message: result.data } : { ok: false };
}

/** A line an IQ sent; anything not exactly one known message is `ok: false` (answered bad_message). */
export const parseDeviceMessage = (line: string) => parseWith(DeviceMessageSchema, line);
export const parseGatewayMessage = (line: string) => parseWith(GatewayMessageSchema, line);

/** One message as a protocol line, newline included. */
export const serialize = (message: DeviceMessage | GatewayMessage) => `${JSON.stringify(message)}\n`;
