import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { envSchema, parseEnv, requiredInProduction } from '../../config/env';
import { temporalTarget } from '../../config/temporal';
import { MAX_CONNECTIONS } from '../../infra/embedded-postgres';
import { TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from '../../infra/temporal-binaries';
import { SETUP_SCHEMA, TEMPORAL_SQL_POOLS } from '../../infra/temporal-cluster';
import { SEARCH_ATTRIBUTE_KEYS } from '../../workflows/search-attributes';

/**
 * Static checks of the deployment (no Docker engine needed): docker-compose.yml against the app's own
 * configuration schema, the Dockerfile, and the Temporal search-attribute setup.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

const APP_SERVICES = ['api', 'worker', 'gateway', 'migrate'] as const;
const LONG_RUNNING_APP_SERVICES = ['api', 'worker', 'gateway'] as const;
const SECRETS = ['TOKEN_SECRET', 'RESEND_API_KEY', 'GATEWAY_COMMAND_SECRET'] as const;

/**
 * What a deployer puts in `.env`: the value the test substitutes for a required interpolation
 * (`${VAR:?…}`). A variable required by the compose file but missing here fails the test, so a new
 * one gets a realistic sample that the schema can judge.
 */
const SAMPLE_DEPLOYMENT_ENV: Readonly<Record<string, string>> = {
  POSTGRES_PASSWORD: 'sample-postgres-password',
  PUBLIC_BASE_URL: 'https://cloud.example.com',
  TOKEN_SECRET: 'sample-token-secret-that-is-long-enough-0123456789',
  GATEWAY_COMMAND_SECRET: 'sample-command-secret-that-is-long-enough-0123',
  RESEND_API_KEY: 're_sample_key',
};

// ---------------------------------------------------------------------------------------------
// Compose model (only what the checks read; zod also rejects shapes Compose would not accept)
// ---------------------------------------------------------------------------------------------

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const stringOrList = z.union([z.string(), z.array(z.string())]);
const serviceSchema = z.object({
  image: z.string().optional(),
  build: z.unknown().optional(),
  command: stringOrList.optional(),
  entrypoint: stringOrList.optional(),
  environment: z.union([z.record(z.string(), scalar.nullable()), z.array(z.string())]).optional(),
  ports: z
    .array(
      z.union([
        z.string(),
        z.number(),
        z.object({ target: scalar, published: scalar.optional(), host_ip: z.string().optional() }),
      ]),
    )
    .optional(),
  depends_on: z
    .union([z.array(z.string()), z.record(z.string(), z.object({ condition: z.string().optional() }))])
    .optional(),
  volumes: z
    .array(
      z.union([
        z.string(),
        z.object({ type: z.string().optional(), source: z.string().optional(), target: z.string() }),
      ]),
    )
    .optional(),
  healthcheck: z.object({ test: stringOrList.optional() }).optional(),
  stop_grace_period: z.string().optional(),
});
type Service = z.infer<typeof serviceSchema>;
const composeSchema = z.object({
  services: z.record(z.string(), serviceSchema),
  volumes: z.record(z.string(), z.unknown().nullable()).optional(),
});

function loadCompose() {
  // Compose supports YAML merge keys (`<<: *anchor`); the yaml package needs them switched on.
  return composeSchema.parse(parse(read('docker-compose.yml'), { merge: true }));
}

const compose = loadCompose();

function service(name: string): Service {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Interpolation, as Compose does it: ${VAR}, $VAR, ${VAR:-default}, ${VAR-default}, ${VAR:?err},
// ${VAR?err}, ${VAR:+alt}, ${VAR+alt}, and $$ for a literal $.
// ---------------------------------------------------------------------------------------------

const INTERPOLATION =
  /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;
const REQUIRED_INTERPOLATION = /^\$\{([A-Za-z_][A-Za-z0-9_]*):?\?[^}]*\}$/;

function interpolate(value: string, vars: Readonly<Record<string, string>> = SAMPLE_DEPLOYMENT_ENV): string {
  return value.replace(
    INTERPOLATION,
    (_match, dollar: string | undefined, braced?: string, op?: string, arg = '', bare?: string) => {
      if (dollar) return '$';
      const name = (braced ?? bare)!;
      const value = vars[name];
      const set = value !== undefined;
      const nonEmpty = set && value !== '';
      switch (op) {
        case ':-':
          return nonEmpty ? value : interpolate(arg, vars);
        case '-':
          return set ? value : interpolate(arg, vars);
        case ':+':
          return nonEmpty ? interpolate(arg, vars) : '';
        case '+':
          return set ? interpolate(arg, vars) : '';
        case ':?':
        case '?':
          if ((op === ':?' && !nonEmpty) || !set) {
            throw new Error(
              `docker-compose.yml requires \${${name}}: add a sample value to SAMPLE_DEPLOYMENT_ENV`,
            );
          }
          return value;
        default:
          return value ?? '';
      }
    },
  );
}

/** The service's environment as written (before interpolation); `null` = pass-through, unset if absent. */
function rawEnvironment(svc: Service): Record<string, string | null> {
  const env = svc.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const eq = entry.indexOf('=');
        return eq === -1 ? [entry, null] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? null : String(v)]));
}

/**
 * The environment the process sees for a deployment whose environment / `.env` holds `vars` (the sample
 * by default); pass-through variables without a value left unset.
 */
function processEnvironment(
  svc: Service,
  vars: Readonly<Record<string, string>> = SAMPLE_DEPLOYMENT_ENV,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(rawEnvironment(svc))) {
    if (value !== null) env[name] = interpolate(value, vars);
  }
  return env;
}

/** The configuration the service's process reads (config/env.ts: an empty variable counts as unset). */
const appEnv = (name: string, vars?: Readonly<Record<string, string>>) =>
  parseEnv(processEnvironment(service(name), vars));

interface PublishedPort {
  hostIp?: string | undefined;
  published?: number | undefined;
  target: number;
}

function portRange(spec: string): number[] {
  const [from, to = from] = spec.split('-').map(Number);
  if (!Number.isInteger(from) || !Number.isInteger(to)) throw new Error(`bad port "${spec}"`);
  return Array.from({ length: to! - from! + 1 }, (_, i) => from! + i);
}

function publishedPorts(svc: Service): PublishedPort[] {
  return (svc.ports ?? []).flatMap((entry): PublishedPort[] => {
    if (typeof entry === 'object') {
      const published =
        entry.published === undefined ? undefined : Number(interpolate(String(entry.published)));
      return [{ hostIp: entry.host_ip, published, target: Number(interpolate(String(entry.target))) }];
    }
    const spec = interpolate(String(entry)).replace(/\/(tcp|udp)$/, '');
    // [host_ip:][published:]target, host_ip possibly an [IPv6] address.
    const ipv6 = /^\[([^\]]+)\]:(.*)$/.exec(spec);
    const parts = (ipv6 ? ipv6[2]! : spec).split(':');
    const hostIp = ipv6 ? ipv6[1] : parts.length === 3 ? parts.shift() : undefined;
    const [publishedSpec, targetSpec] = parts.length === 1 ? [undefined, parts[0]!] : [parts[0]!, parts[1]!];
    const targets = portRange(targetSpec);
    const published = publishedSpec === undefined ? [] : portRange(publishedSpec);
    return targets.map((target, i) => ({ hostIp, published: published[i], target }));
  });
}

function dependsOn(svc: Service): Record<string, string> {
  const deps = svc.depends_on ?? [];
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, 'service_started']));
  return Object.fromEntries(
    Object.entries(deps).map(([name, dep]) => [name, dep.condition ?? 'service_started']),
  );
}

const words = (value: string | string[] | undefined) =>
  value === undefined ? [] : Array.isArray(value) ? value : value.split(/\s+/).filter(Boolean);

/** The service's command line, and every script mounted into the container and run by it (host path, text). */
function scriptsRun(svc: Service): Array<{ hostPath: string; text: string }> {
  const args = [...words(svc.entrypoint), ...words(svc.command)];
  const mounts = (svc.volumes ?? []).flatMap((volume) => {
    if (typeof volume !== 'string')
      return volume.source ? [{ source: volume.source, target: volume.target }] : [];
    const [source, target] = volume.split(':');
    return source && target ? [{ source, target }] : [];
  });
  const scripts = args.flatMap((arg) => {
    const mount = mounts.find((m) => arg === m.target || arg.startsWith(`${m.target}/`));
    if (!mount) return [];
    const hostPath = join(ROOT, mount.source, posix.relative(mount.target, arg));
    expect(relative(ROOT, hostPath).startsWith('..'), `${arg} must come from the repository`).toBe(false);
    expect(existsSync(hostPath), `${arg} is mounted from ${hostPath}, which does not exist`).toBe(true);
    return [{ hostPath, text: readFileSync(hostPath, 'utf8') }];
  });
  return [{ hostPath: '', text: args.join(' ') }, ...scripts];
}

// ---------------------------------------------------------------------------------------------

describe('docker-compose.yml: app services', () => {
  it('defines every service of the deployment', () => {
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining([
        'postgres',
        'temporal-schema',
        'temporal',
        'temporal-ui',
        'temporal-setup',
        ...APP_SERVICES,
      ]),
    );
  });

  describe.each(APP_SERVICES)('%s', (name) => {
    const svc = service(name);
    const raw = rawEnvironment(svc);

    it.each(requiredInProduction)('sets %s (required in production)', (variable) => {
      expect(raw[variable], `${name} must set ${variable}`).toBeTypeOf('string');
      expect(raw[variable]).not.toBe('');
    });

    it('runs in production mode against the compose Temporal server', () => {
      expect(raw.KS_MODE).toBe('production');
      expect(raw.TEMPORAL_ADDRESS, `${name} must set TEMPORAL_ADDRESS`).toBeTypeOf('string');
      const [host, port] = interpolate(raw.TEMPORAL_ADDRESS!).split(':');
      expect(Object.keys(compose.services), 'TEMPORAL_ADDRESS must name a compose service').toContain(host);
      expect(port).toBe('7233');
      expect(raw.TEMPORAL_NAMESPACE, `${name} must set TEMPORAL_NAMESPACE`).toBeTypeOf('string');
    });

    it('has an environment that config/env.ts accepts', () => {
      expect(() => appEnv(name)).not.toThrow();
    });

    it.each(SECRETS)('takes %s from the deployment environment, never a literal', (variable) => {
      const value = raw[variable] ?? '';
      const match = REQUIRED_INTERPOLATION.exec(value);
      expect(
        match,
        `${name}: ${variable} must be a required interpolation like \${${variable}:?…}`,
      ).not.toBeNull();
      expect(match![1]).toBe(variable);
    });

    it('has no literal database password', () => {
      const url = new URL(interpolate(raw.DATABASE_URL ?? ''));
      expect(url.password).toBe(SAMPLE_DEPLOYMENT_ENV.POSTGRES_PASSWORD);
      expect(Object.keys(compose.services), 'DATABASE_URL must point at a compose service').toContain(
        url.hostname,
      );
    });

    it('runs the shared app image', () => {
      expect(svc.build, `${name} must build the Dockerfile`).toBeDefined();
      expect(svc.image).toBe(service('api').image);
    });
  });

  it.each([
    ['api', 'api/main.ts'],
    ['worker', 'worker/main.ts'],
    ['gateway', 'gateway/main.ts'],
    ['migrate', 'scripts/migrate.ts'],
  ])('%s runs %s', (name, entry) => {
    const command = words(service(name).command);
    expect(command).toContain('tsx');
    expect(command).toContain(entry);
  });

  it.each(LONG_RUNNING_APP_SERVICES)(
    '%s starts after the database, Temporal, its setup and the migrations',
    (name) => {
      expect(dependsOn(service(name))).toMatchObject({
        postgres: 'service_healthy',
        temporal: 'service_started',
        'temporal-setup': 'service_completed_successfully',
        migrate: 'service_completed_successfully',
      });
    },
  );

  it("stops the worker no sooner than its in-flight activities' grace allows", () => {
    const period = /^(\d+)s$/.exec(service('worker').stop_grace_period ?? '');
    expect(period, 'the worker needs a stop_grace_period in seconds').not.toBeNull();
    expect(appEnv('worker').WORKER_SHUTDOWN_GRACE_SECONDS).toBeGreaterThan(0);
    expect(appEnv('worker').WORKER_SHUTDOWN_GRACE_SECONDS).toBeLessThan(Number(period![1]));
  });

  it('migrate waits for a healthy database', () => {
    expect(dependsOn(service('migrate'))).toMatchObject({ postgres: 'service_healthy' });
  });
});

/**
 * What the compose topology itself decides, so an operator's value must not reach the process: the
 * published ports, the container's interface, its own database, the wiring between its services.
 */
const FIXED_BY_COMPOSE: Readonly<Record<string, string>> = {
  KS_MODE: 'a compose deployment is production',
  DATABASE_URL: "compose's PostgreSQL, with POSTGRES_PASSWORD",
  PORT: 'the published API port',
  HOST: "the container's interfaces, behind the published port (zsh sets a HOST of its own)",
  GATEWAY_PORTS: 'the published gateway ports',
  GATEWAY_COMMAND_HOST: 'the command endpoint on the compose network',
  GATEWAY_COMMAND_PORT: 'the command endpoint on the compose network',
  GATEWAY_COMMAND_ADVERTISED_HOST: "the gateway's compose service name",
  METRICS_PORT: 'the metrics port scraped on the compose network',
};

/** Every variable config/env.ts reads, from its schema. */
const APP_VARIABLES = Object.keys(envSchema.shape);

/**
 * Every variable the Temporal SDK's envconfig reads (config/temporal.ts), from its own source; the
 * TEMPORAL_GRPC_META_* family, matched by prefix, cannot be listed.
 */
const TEMPORAL_VARIABLES = (() => {
  const lib = dirname(createRequire(import.meta.url).resolve('@temporalio/envconfig'));
  const source = readFileSync(join(lib, 'envconfig-toml.js'), 'utf8');
  return [...new Set([...source.matchAll(/envProvider\['(TEMPORAL_[A-Z_]+)'\]/g)].map((m) => m[1]!))];
})();

/** A value that hands the deployment environment's variable of the same name through. */
const passesThrough = (value: string | null | undefined, variable: string) =>
  value !== undefined && (value === null || new RegExp(`^\\$\\{${variable}(:?[-?][^}]*)?\\}$`).test(value));

describe('docker-compose.yml: every setting reaches the app', () => {
  it('knows the variables of config/env.ts and of Temporal', () => {
    expect(APP_VARIABLES).toEqual(expect.arrayContaining(['TRUSTED_PROXIES', 'DATABASE_POOL_SIZE']));
    expect(TEMPORAL_VARIABLES).toEqual(
      expect.arrayContaining(['TEMPORAL_ADDRESS', 'TEMPORAL_API_KEY', 'TEMPORAL_TLS_CLIENT_CERT_DATA']),
    );
    for (const variable of Object.keys(FIXED_BY_COMPOSE)) expect(APP_VARIABLES).toContain(variable);
  });

  describe.each(APP_SERVICES)('%s', (name) => {
    const raw = rawEnvironment(service(name));

    it.each(APP_VARIABLES.filter((v) => !(v in FIXED_BY_COMPOSE)))(
      "passes the deployment's %s through",
      (variable) => {
        expect(passesThrough(raw[variable], variable), `${name}: ${variable}: ${raw[variable]}`).toBe(true);
      },
    );

    it.each(Object.keys(FIXED_BY_COMPOSE))('sets %s itself', (variable) => {
      expect(raw[variable], `${name}: ${variable} (${FIXED_BY_COMPOSE[variable]})`).toBeTypeOf('string');
    });

    it.each(TEMPORAL_VARIABLES)("passes the deployment's %s through", (variable) => {
      expect(passesThrough(raw[variable], variable), `${name}: ${variable}: ${raw[variable]}`).toBe(true);
    });
  });

  it("reads an operator's values, and config/env.ts's defaults where none is set", () => {
    const tuned = {
      ...SAMPLE_DEPLOYMENT_ENV,
      TRUSTED_PROXIES: '172.16.0.0/12',
      DATABASE_POOL_SIZE: '6',
      GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: '1000',
      GATEWAY_FAILED_HELLOS_PER_MINUTE: '20',
      TEMPORAL_TASK_QUEUE: 'ks-blue',
    };
    expect(appEnv('api', tuned)).toMatchObject({
      TRUSTED_PROXIES: ['172.16.0.0/12'],
      DATABASE_POOL_SIZE: 6,
      TEMPORAL_TASK_QUEUE: 'ks-blue',
    });
    expect(appEnv('gateway', tuned)).toMatchObject({
      GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: 1000,
      GATEWAY_FAILED_HELLOS_PER_MINUTE: 20,
    });
    // Unset: what the schema gives a variable that is absent (its default, or nothing).
    const env = appEnv('api') as Record<string, unknown>;
    for (const variable of APP_VARIABLES) {
      if (variable in FIXED_BY_COMPOSE || variable in SAMPLE_DEPLOYMENT_ENV) continue;
      const shape = envSchema.shape as Record<string, z.ZodType>;
      expect(env[variable], variable).toEqual(shape[variable]!.parse(undefined));
    }
  });

  it("reaches compose's Temporal without TLS or key unless the deployment names them", () => {
    const target = temporalTarget(processEnvironment(service('worker')));
    expect(target.address).toBe('temporal:7233');
    expect(target.namespace).toBe('default');
    expect(target.connectionOptions.tls).toBeUndefined();
    expect(target.connectionOptions.apiKey).toBeUndefined();

    const cloud = temporalTarget(
      processEnvironment(service('worker'), {
        ...SAMPLE_DEPLOYMENT_ENV,
        TEMPORAL_ADDRESS: 'ks.a1b2c.tmprl.cloud:7233',
        TEMPORAL_NAMESPACE: 'ks.a1b2c',
        TEMPORAL_API_KEY: 'sample-api-key',
      }),
    );
    expect(cloud).toMatchObject({ address: 'ks.a1b2c.tmprl.cloud:7233', namespace: 'ks.a1b2c' });
    expect(cloud.connectionOptions.apiKey).toBe('sample-api-key');
  });

  it('lists every variable an operator may set in deploy/env.example', () => {
    const example = read('deploy/env.example');
    const passed = Object.entries(rawEnvironment(service('api')))
      .filter(([variable, value]) => passesThrough(value, variable))
      .map(([variable]) => variable);
    for (const variable of passed) {
      expect(example, `deploy/env.example must mention ${variable}`).toMatch(
        new RegExp(`^#? ?${variable}=`, 'm'),
      );
    }
  });
});

describe('docker-compose.yml: ports', () => {
  it('publishes the api on 3000, where the api listens', () => {
    const env = appEnv('api');
    expect(publishedPorts(service('api'))).toContainEqual(
      expect.objectContaining({ published: 3000, target: env.PORT }),
    );
  });

  it('publishes the gateway on 40000 and 40001, the ports it listens on', () => {
    const env = appEnv('gateway');
    const ports = publishedPorts(service('gateway'));
    for (const port of [40000, 40001]) {
      expect(ports).toContainEqual(expect.objectContaining({ published: port, target: port }));
    }
    expect([...env.GATEWAY_PORTS].sort()).toEqual(ports.map((p) => p.target).sort());
  });

  it('publishes the Temporal UI on 8233', () => {
    expect(publishedPorts(service('temporal-ui'))).toContainEqual(
      expect.objectContaining({ published: 8233, target: 8080 }),
    );
  });
});

describe('docker-compose.yml: wiring', () => {
  it.each(Object.keys(compose.services))('%s depends only on services that exist', (name) => {
    for (const target of Object.keys(dependsOn(service(name)))) {
      expect(Object.keys(compose.services), `${name} depends on unknown "${target}"`).toContain(target);
    }
  });

  it('declares every named volume it mounts', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const volume of svc.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0]! : (volume.source ?? '');
        const isPath = /^[./~]/.test(source) || source === '';
        if (!isPath)
          expect(Object.keys(compose.volumes ?? {}), `${name} mounts "${source}"`).toContain(source);
      }
    }
  });

  it('postgres has a health check (the app services wait for it)', () => {
    expect(service('postgres').healthcheck?.test, 'postgres needs a healthcheck').toBeDefined();
  });

  it('waits for Temporal through temporal-setup, whose admin-tools image carries the Temporal CLI', () => {
    // temporalio/server images from 1.30 on hold temporal-server alone: a check run inside one by the
    // `temporal` or `tctl` CLI would never pass after an upgrade.
    for (const [name, svc] of Object.entries(compose.services)) {
      const check = words(svc.healthcheck?.test).join(' ');
      if (!(svc.image ?? '').startsWith('temporalio/admin-tools:')) {
        expect(check, `${name}'s healthcheck runs a Temporal CLI`).not.toMatch(/\b(temporal|tctl)\s/);
      }
    }
    expect(
      scriptsRun(service('temporal-setup'))
        .map((script) => script.text)
        .join('\n'),
    ).toMatch(/temporal operator cluster health[^\n]*\n?[^\n]*SERVING/);
    for (const name of [...LONG_RUNNING_APP_SERVICES, 'temporal-ui']) {
      expect(dependsOn(service(name)), name).toMatchObject({
        'temporal-setup': 'service_completed_successfully',
      });
    }
  });

  it('registers the search attributes on the namespace the app uses', () => {
    const setup = processEnvironment(service('temporal-setup'));
    const app = temporalTarget(processEnvironment(service('worker')));
    expect(setup.TEMPORAL_ADDRESS).toBe(app.address);
    expect(setup.TEMPORAL_NAMESPACE).toBe(app.namespace);
    const named = { ...SAMPLE_DEPLOYMENT_ENV, TEMPORAL_NAMESPACE: 'ks' };
    expect(processEnvironment(service('temporal-setup'), named).TEMPORAL_NAMESPACE).toBe(
      temporalTarget(processEnvironment(service('worker'), named)).namespace,
    );
  });
});

describe('docker-compose.yml: Temporal on PostgreSQL, set up as the local cluster is', () => {
  const server = service('temporal');
  const schemaJob = service('temporal-schema');
  const serverEnv = rawEnvironment(server);
  const schemaEnv = rawEnvironment(schemaJob);

  it('runs the temporalio/server image of the version start:cluster builds, and no auto-setup image', () => {
    expect(server.image).toBe(`temporalio/server:${TEMPORAL_SERVER_VERSION}`);
    for (const [name, svc] of Object.entries(compose.services)) {
      expect(svc.image ?? '', `${name} must not use the deprecated auto-setup image`).not.toMatch(
        /auto-setup/,
      );
    }
  });

  it.each(['temporal-schema', 'temporal-setup'])(
    '%s uses the admin tools of the same server version',
    (name) => {
      expect(service(name).image).toMatch(
        new RegExp(`^temporalio/admin-tools:${TEMPORAL_SERVER_VERSION.replaceAll('.', '\\.')}-`),
      );
    },
  );

  it('runs the Web UI of the version start:cluster builds', () => {
    expect(service('temporal-ui').image).toBe(`temporalio/ui:${TEMPORAL_UI_VERSION}`);
  });

  it('sets up the schema with the script the local cluster and its tests run', () => {
    const scripts = scriptsRun(schemaJob).filter((script) => script.hostPath !== '');
    expect(scripts.map((script) => script.hostPath)).toEqual([SETUP_SCHEMA]);
    expect(scripts[0]!.text).toMatch(/update-schema/);
  });

  it('starts the server only after the schema job has succeeded', () => {
    expect(dependsOn(server)).toMatchObject({
      postgres: 'service_healthy',
      'temporal-schema': 'service_completed_successfully',
    });
    expect(dependsOn(schemaJob)).toMatchObject({ postgres: 'service_healthy' });
  });

  it("gives PostgreSQL start:cluster's max_connections", () => {
    const command = words(service('postgres').command);
    expect(command[0]).toBe('postgres');
    expect(command.join(' ')).toContain(`-c max_connections=${MAX_CONNECTIONS}`);
  });

  it("sizes the server's SQL pools as start:cluster does", () => {
    expect(serverEnv).toMatchObject({
      SQL_MAX_CONNS: String(TEMPORAL_SQL_POOLS.persistence),
      SQL_MAX_IDLE_CONNS: String(TEMPORAL_SQL_POOLS.persistence),
      SQL_VIS_MAX_CONNS: String(TEMPORAL_SQL_POOLS.visibility),
      SQL_VIS_MAX_IDLE_CONNS: String(TEMPORAL_SQL_POOLS.visibility),
    });
  });

  it('migrates the databases the server uses, on the compose PostgreSQL, with the same credentials', () => {
    expect(serverEnv.DB).toBe('postgres12');
    expect(schemaEnv.SQL_PLUGIN).toBe(serverEnv.DB);
    expect(schemaEnv.SQL_HOST).toBe(serverEnv.POSTGRES_SEEDS);
    expect(Object.keys(compose.services)).toContain(schemaEnv.SQL_HOST);
    expect(schemaEnv.SQL_PORT).toBe(serverEnv.DB_PORT);
    expect(schemaEnv.SQL_USER).toBe(serverEnv.POSTGRES_USER);
    expect(interpolate(schemaEnv.SQL_PASSWORD ?? '')).toBe(SAMPLE_DEPLOYMENT_ENV.POSTGRES_PASSWORD);
    expect(interpolate(serverEnv.POSTGRES_PWD ?? '')).toBe(SAMPLE_DEPLOYMENT_ENV.POSTGRES_PASSWORD);
    expect(schemaEnv.TEMPORAL_DB).toBe(serverEnv.DBNAME);
    expect(schemaEnv.TEMPORAL_VISIBILITY_DB).toBe(serverEnv.VISIBILITY_DBNAME);
    expect(serverEnv.DBNAME).not.toBe(serverEnv.VISIBILITY_DBNAME);
  });
});

describe('temporal-setup: search attributes', () => {
  const setup = service('temporal-setup');

  const setupText = () =>
    scriptsRun(setup)
      .map((script) => script.text)
      .join('\n');

  const CLI_TYPE: Record<string, string> = {
    TEXT: 'Text',
    KEYWORD: 'Keyword',
    INT: 'Int',
    DOUBLE: 'Double',
    BOOL: 'Bool',
    DATETIME: 'Datetime',
    KEYWORD_LIST: 'KeywordList',
  };

  it('uses the Temporal CLI to create the namespace and the search attributes', () => {
    expect(setup.image).toMatch(/^temporalio\/admin-tools:/);
    expect(setupText()).toContain('temporal operator namespace create');
    expect(setupText()).toContain('temporal operator search-attribute create');
  });

  it('names the product attributes: the five of API.md and SiteIds', () => {
    expect(SEARCH_ATTRIBUTE_KEYS.map((key) => key.name).sort()).toEqual(
      [
        'DeletionStatus',
        'RolloutStatus',
        'SiteId',
        'SiteIds',
        'SubscriptionEndsAt',
        'SubscriptionStatus',
      ].sort(),
    );
  });

  it.each(SEARCH_ATTRIBUTE_KEYS.map((key) => [key.name, CLI_TYPE[key.type]!] as const))(
    'registers %s as %s',
    (name, type) => {
      // `--name X --type T`, or a `X T` line of a name/type table the script loops over.
      const pair = new RegExp(
        `(--name[ =]+"?${name}"?\\s+--type[ =]+"?${type}"?\\b)|(^\\s*${name}[ \\t]+${type}\\s*$)`,
        'm',
      );
      expect(setupText()).toMatch(pair);
    },
  );
});

describe('Dockerfile', () => {
  const path = join(ROOT, 'Dockerfile');

  /** Instructions with line continuations joined and comments dropped. */
  function instructions(): Array<{ op: string; args: string }> {
    return read('Dockerfile')
      .replace(/\\\r?\n/g, ' ')
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => {
        const [op = '', ...rest] = line.split(/\s+/);
        return { op: op.toUpperCase(), args: rest.join(' ') };
      });
  }

  it('exists', () => {
    expect(existsSync(path)).toBe(true);
  });

  it('builds on node 20', () => {
    const args: Record<string, string> = {};
    const stages: string[] = [];
    const bases: string[] = [];
    for (const { op, args: rest } of instructions()) {
      if (op === 'ARG' && stages.length === 0) {
        const [name, value] = rest.split('=');
        if (name && value !== undefined) args[name] = value.replace(/^"|"$/g, '');
      }
      if (op === 'FROM') {
        const [image = '', as, stage] = rest.replace(/--platform=\S+\s+/, '').split(/\s+/);
        const resolved = interpolate(image, args);
        if (!stages.includes(resolved)) bases.push(resolved);
        stages.push(as?.toUpperCase() === 'AS' && stage ? stage : resolved);
      }
    }
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) expect(base).toMatch(/^(docker\.io\/(library\/)?)?node:20([.-]|$)/);
  });

  it('installs production dependencies from the lockfile', () => {
    expect(instructions().some(({ op, args }) => op === 'RUN' && /npm ci\b.*--omit=dev/.test(args))).toBe(
      true,
    );
  });

  it('runs as a non-root user', () => {
    const all = instructions();
    const finalStage = all.slice(all.map((i) => i.op).lastIndexOf('FROM'));
    const users = finalStage.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(users.length, 'the final stage must set USER').toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:.*)?$/);
  });

  it('keeps secrets and local state out of the build context', () => {
    const ignored = read('.dockerignore')
      .split(/\r?\n/)
      .map((line) => line.trim());
    for (const entry of ['.env', 'node_modules', '.git']) expect(ignored).toContain(entry);
  });

  /** The data directories `npm start` and `start:cluster` create in the checkout (launcher.ts). */
  const dataDirs = ['scripts/start.ts', 'scripts/start-cluster.ts'].map((script) => {
    const dir = /defaultDataDir: '([^']+)'/.exec(read(script))?.[1];
    expect(dir, `${script} names its data directory`).toBeDefined();
    return dir!;
  });
  /** What the start scripts write there: PostgreSQL's data, the token secret, the demo IQs' credentials. */
  const secrets = ['token-secret', 'demo-iqs.json', 'postgres/PG_VERSION'];

  it.each(dataDirs)('keeps %s (secrets, IQ credentials, PostgreSQL data) out of the image', (dir) => {
    // .dockerignore's patterns: root-relative, `*` within a name, `**` across directories.
    const patterns = read('.dockerignore')
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('!'))
      .map(
        (pattern) =>
          new RegExp(
            `^${pattern
              .replace(/^\/|\/$/g, '')
              .replace(/[.+^${}()|[\]\\]/g, '\\$&')
              .replace(/\*\*\//g, '(.*/)?')
              .replace(/\*/g, '[^/]*')}(/.*)?$`,
          ),
      );
    for (const file of secrets) {
      expect(patterns.some((p) => p.test(`${dir}/${file}`), `${dir}/${file} must be in .dockerignore`)).toBe(
        true,
      );
    }
  });

  it.each(dataDirs)('keeps %s out of git', (dir) => {
    for (const file of secrets) {
      const ignored = spawnSync('git', ['check-ignore', '--quiet', '--no-index', `${dir}/${file}`], {
        cwd: ROOT,
      });
      expect(ignored.status, `${dir}/${file} must be git-ignored`).toBe(0);
    }
  });
});
