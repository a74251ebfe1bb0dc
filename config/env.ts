import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';

/** pino's levels (observability/logger.ts). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Up to three outbox relays per process each hold a connection while they send: one more stays free. */
const MIN_DATABASE_POOL_SIZE = 4;
/** Every process keeps its own pool, and PostgreSQL serves 100 connections unless told otherwise. */
const MAX_DEFAULT_DATABASE_POOL_SIZE = 10;
const MAX_DATABASE_POOL_SIZE = 1000;
const POOL_SIZE_RANGE = `must be an integer from ${MIN_DATABASE_POOL_SIZE} to ${MAX_DATABASE_POOL_SIZE}`;
/**
 * Connections each process keeps to PostgreSQL by default: twice this machine's cores (PostgreSQL's
 * rule of thumb for busy connections), from 4 to 10. Few connections, each carrying the statements
 * sent meanwhile in one pipeline, outrun many mostly idle ones: a statement sent to an idle backend
 * must first wake it (issue 15: on the 2-core bench machine, 4 connections instead of 40 made GET
 * events 1.3 times as fast).
 */
export const defaultDatabasePoolSize = () =>
  Math.min(MAX_DEFAULT_DATABASE_POOL_SIZE, Math.max(MIN_DATABASE_POOL_SIZE, 2 * availableParallelism()));

/**
 * The process configuration, validated once at start. Temporal's connection is not here: it follows
 * Temporal's own environment conventions (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS_*, TEMPORAL_PROFILE) and is read by `config/temporal.ts` through @temporalio/envconfig.
 */
const port = z.coerce
  .number({ error: 'must be a TCP port (1-65535)' })
  .int('must be a TCP port (1-65535)')
  .min(1, 'must be a TCP port (1-65535)')
  .max(65535, 'must be a TCP port (1-65535)');

/** What one client address may hold of the API by default (API_MAX_*_PER_ADDRESS); benches run with them. */
export const API_LIMIT_DEFAULTS = { connectionsPerAddress: 128, requestsInFlightPerAddress: 64 } as const;

export const envSchema = z
  .object({
    KS_MODE: z.enum(['development', 'production']).default('production'),
    DATABASE_URL: z
      .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' })
      // libpq reads a host from the URL or from its `host` parameter (a socket directory); with
      // neither, postgres.js would quietly connect to localhost.
      .refine((value) => {
        const url = URL.parse(value);
        // An unparsable value is z.url's to report.
        if (!url) return true;
        return url.hostname !== '' || (url.searchParams.get('host') ?? '') !== '';
      }, 'must name a host (postgres://user:password@host/database)'),
    /** Connections to DATABASE_URL this process keeps (defaultDatabasePoolSize). */
    DATABASE_POOL_SIZE: z.coerce
      .number({ error: POOL_SIZE_RANGE })
      .int(POOL_SIZE_RANGE)
      .min(MIN_DATABASE_POOL_SIZE, POOL_SIZE_RANGE)
      .max(MAX_DATABASE_POOL_SIZE, POOL_SIZE_RANGE)
      .default(defaultDatabasePoolSize),
    /**
     * Links are built by appending paths to it: kept without trailing slashes (a path prefix such as
     * /ks stays), and a query or fragment, which would end up in the middle of every link, is refused.
     */
    PUBLIC_BASE_URL: z
      .url({ protocol: /^https?$/, error: 'must be an http(s):// URL' })
      .transform((value, ctx) => {
        const url = new URL(value);
        if (/[?#]/.test(value)) {
          ctx.addIssue({ code: 'custom', message: 'must have no query or fragment (? or #)' });
          return z.NEVER;
        }
        return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
      }),
    TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters'),
    RESEND_API_KEY: z.string().min(1).optional(),
    EMAIL_FROM: z
      .string()
      .min(3, 'must be a sender address')
      // A line break would let the value inject mail headers.
      .refine((s) => !/[\r\n]/.test(s), 'must be on one line')
      .default('KS Cloud <no-reply@ks-cloud.local>'),
    SUPPORT_EMAIL: z.email('must be an email address').default('support@ks-cloud.local'),
    PORT: port.default(3000),
    /**
     * The address the API listens on. Development binds loopback only (its /dev/mailbox shows reset
     * links); production binds every interface. Set it to choose.
     */
    HOST: z
      .string()
      .refine((h) => isIP(h) !== 0 || /^[A-Za-z0-9.-]+$/.test(h), 'must be an IP address or a host name')
      .optional(),
    /**
     * A6: proxies in front of the API (comma-separated addresses or CIDR ranges) whose
     * X-Forwarded-For names the client address used for throttling. None: the socket's address.
     */
    TRUSTED_PROXIES: z
      .string()
      .default('')
      .transform((s, ctx) => {
        const entries = s
          .split(',')
          .map((e) => e.trim())
          .filter((e) => e !== '');
        for (const entry of entries) {
          const [address = '', bits, ...rest] = entry.split('/');
          const family = isIP(address);
          const max = family === 6 ? 128 : 32;
          const badBits = bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max);
          if (family === 0 || badBits || rest.length > 0) {
            ctx.addIssue({ code: 'custom', message: `must be IP addresses or CIDR ranges (not "${entry}")` });
            return z.NEVER;
          }
        }
        return entries;
      }),
    /**
     * Open HTTP connections one client address (an IPv6 /64) may hold on the API; a trusted proxy's
     * are not counted (clients behind one NAT share an address).
     */
    API_MAX_CONNECTIONS_PER_ADDRESS: z.coerce
      .number({ error: 'must be a positive integer' })
      .int('must be a positive integer')
      .min(1, 'must be a positive integer')
      .default(API_LIMIT_DEFAULTS.connectionsPerAddress),
    /**
     * Requests of one client address (an IPv6 /64; behind a trusted proxy, the client it names) the
     * API answers at once; more are answered 429 before any work.
     */
    API_MAX_REQUESTS_IN_FLIGHT_PER_ADDRESS: z.coerce
      .number({ error: 'must be a positive integer' })
      .int('must be a positive integer')
      .min(1, 'must be a positive integer')
      .default(API_LIMIT_DEFAULTS.requestsInFlightPerAddress),
    GATEWAY_PORTS: z
      .string()
      .default('40000,40001')
      .transform((s, ctx) => {
        const ports = s.split(',').map((p) => Number(p.trim()));
        if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
          ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of TCP ports' });
          return z.NEVER;
        }
        // The second listener on a port would fail to bind.
        const repeated = ports.find((p, i) => ports.indexOf(p) !== i);
        if (repeated !== undefined) {
          ctx.addIssue({ code: 'custom', message: `must not name a port twice (${repeated})` });
          return z.NEVER;
        }
        return ports;
      }),
    /** Device gateway: open connections one client address may hold (IQs behind one NAT share one). */
    GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: z.coerce
      .number({ error: 'must be a positive integer' })
      .int('must be a positive integer')
      .min(1, 'must be a positive integer')
      .default(256),
    /** Device gateway: failed hellos per address, and per serial, in a minute before hellos are throttled. */
    GATEWAY_FAILED_HELLOS_PER_MINUTE: z.coerce
      .number({ error: 'must be a positive integer' })
      .int('must be a positive integer')
      .min(1, 'must be a positive integer')
      .default(10),
    /**
     * The secret the API presents to the device gateways' internal command endpoints (remote
     * openings); the API and every gateway need the same one. `npm start` and `start:cluster` make one
     * per run for their own processes.
     */
    GATEWAY_COMMAND_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    /** Where a gateway's command endpoint listens: loopback unless set (e.g. 0.0.0.0 in containers). */
    GATEWAY_COMMAND_HOST: z
      .string()
      .refine((h) => isIP(h) !== 0 || /^[A-Za-z0-9.-]+$/.test(h), 'must be an IP address or a host name')
      .default('127.0.0.1'),
    /** The command endpoint's port; any free one when unset (the instance's row names it). */
    GATEWAY_COMMAND_PORT: port.optional(),
    /** The host name the API reaches the endpoint by; default the address above, or the machine's name. */
    GATEWAY_COMMAND_ADVERTISED_HOST: z
      .string()
      .regex(/^[A-Za-z0-9.-]+$/, 'must be a host name or an IPv4 address')
      .optional(),
    TEMPORAL_TASK_QUEUE: z.string().min(1).default('ks-cloud'),
    LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
    /**
     * Prometheus metrics of this process on its own port, off the public one: the API's and the
     * gateway's `/metrics` (with `/health/live` and `/health/ready`), the worker's Temporal SDK
     * metrics. None when unset.
     */
    METRICS_PORT: port.optional(),
    /**
     * How long a stopping worker lets its in-flight activities finish before cancelling them (the
     * SDK's default, 0, cancels them at once). Below compose's stop_grace_period (60 s) and the
     * launcher's 30 s before SIGKILL.
     */
    WORKER_SHUTDOWN_GRACE_SECONDS: z.coerce
      .number({ error: 'must be an integer from 0 to 3600' })
      .int('must be an integer from 0 to 3600')
      .min(0, 'must be an integer from 0 to 3600')
      .max(3600, 'must be an integer from 0 to 3600')
      .default(20),
    /**
     * A workflow bundle built ahead (`bundleWorkflowCode`, see worker/bundle.ts): the worker loads it
     * instead of bundling workflows/ at every start.
     */
    WORKFLOW_BUNDLE: z.string().min(1).optional(),
  })
  .superRefine((env, ctx) => {
    // Production sends real email; only development may fall back to the local mailbox.
    if (env.KS_MODE === 'production' && !env.RESEND_API_KEY) {
      ctx.addIssue({
        code: 'custom',
        path: ['RESEND_API_KEY'],
        message: 'is required when KS_MODE=production',
      });
    }
  });

export type Env = z.infer<typeof envSchema>;

/** Variables a production app service must set (everything without a default). */
export const requiredInProduction = [
  'DATABASE_URL',
  'PUBLIC_BASE_URL',
  'TOKEN_SECRET',
  'RESEND_API_KEY',
] as const;

export class ConfigError extends Error {}

/** Parses the environment; on failure the message is one line naming each bad variable and why. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  // An empty variable (`RESEND_API_KEY=` in an env file, `${VAR:-}` in compose) counts as unset.
  const present = Object.fromEntries(
    Object.entries(source).filter(([, value]) => value !== undefined && value.trim() !== ''),
  );
  const result = envSchema.safeParse(present);
  if (result.success) return result.data;
  const parts = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? 'environment');
    const missing = present[name] === undefined && issue.code === 'invalid_type';
    return `${name} ${missing ? 'is missing' : issue.message}`;
  });
  // One line, whatever the messages contain: log collectors show it as one record.
  throw new ConfigError(`Configuration error: ${parts.join('; ')}`.replace(/\s+/g, ' '));
}

/** The API and the gateways cannot do without the command secret; the other processes never use it. */
export function commandSecretOrExit(env: Env): string {
  if (env.GATEWAY_COMMAND_SECRET) return env.GATEWAY_COMMAND_SECRET;
  console.error(
    'Configuration error: GATEWAY_COMMAND_SECRET is missing (the API and the device gateways share it)',
  );
  process.exit(1);
}

/** For entry points: validate or exit with a single line (no stack trace). */
export function loadEnvOrExit(source: Record<string, string | undefined> = process.env): Env {
  try {
    return parseEnv(source);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}
