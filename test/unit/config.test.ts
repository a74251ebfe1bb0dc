import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultDatabasePoolSize, parseEnv } from '../../config/env';

const valid = {
  KS_MODE: 'development',
  DATABASE_URL: 'postgres://ks:secret@db.internal:5432/ks',
  PUBLIC_BASE_URL: 'https://ks.example.com',
  TOKEN_SECRET: 'x'.repeat(32),
};

/** The ConfigError message for an environment that must be refused. */
function refusal(source: Record<string, string | undefined>): string {
  try {
    parseEnv(source);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toMatch(/[\r\n]/);
    return message;
  }
  throw new Error(`expected ${JSON.stringify(source)} to be refused`);
}

describe('parseEnv', () => {
  it('accepts a complete development environment and applies defaults', () => {
    const env = parseEnv(valid);
    expect(env).toMatchObject({
      KS_MODE: 'development',
      DATABASE_URL: valid.DATABASE_URL,
      PORT: 3000,
      GATEWAY_PORTS: [40000, 40001],
      API_MAX_CONNECTIONS_PER_ADDRESS: 128,
      API_MAX_REQUESTS_IN_FLIGHT_PER_ADDRESS: 64,
      GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: 256,
      GATEWAY_FAILED_HELLOS_PER_MINUTE: 10,
      TEMPORAL_TASK_QUEUE: 'ks-cloud',
    });
    expect(env.RESEND_API_KEY).toBeUndefined();
  });

  it.each([
    'API_MAX_CONNECTIONS_PER_ADDRESS',
    'API_MAX_REQUESTS_IN_FLIGHT_PER_ADDRESS',
    'GATEWAY_MAX_CONNECTIONS_PER_ADDRESS',
    'GATEWAY_FAILED_HELLOS_PER_MINUTE',
  ])('reads %s as a positive integer and refuses anything else', (name) => {
    expect(parseEnv({ ...valid, [name]: '5000' })).toMatchObject({ [name]: 5000 });
    for (const bad of ['0', '-1', '1.5', 'many']) {
      expect(refusal({ ...valid, [name]: bad })).toBe(
        `Configuration error: ${name} must be a positive integer`,
      );
    }
  });

  it('keeps twice the cores in connections to PostgreSQL by default, 4 to 10; DATABASE_POOL_SIZE sets it', () => {
    expect(defaultDatabasePoolSize()).toBe(Math.min(10, Math.max(4, 2 * availableParallelism())));
    expect(parseEnv(valid).DATABASE_POOL_SIZE).toBe(defaultDatabasePoolSize());
    expect(parseEnv({ ...valid, DATABASE_POOL_SIZE: '12' }).DATABASE_POOL_SIZE).toBe(12);
    for (const bad of ['3', '0', '1001', '6.5', 'few']) {
      expect(refusal({ ...valid, DATABASE_POOL_SIZE: bad })).toBe(
        'Configuration error: DATABASE_POOL_SIZE must be an integer from 4 to 1000',
      );
    }
  });

  it('names a missing variable', () => {
    const { DATABASE_URL: _, ...rest } = valid;
    expect(refusal(rest)).toBe('Configuration error: DATABASE_URL is missing');
  });

  it('treats an empty variable as missing', () => {
    expect(refusal({ ...valid, DATABASE_URL: '' })).toBe('Configuration error: DATABASE_URL is missing');
  });

  it('names every missing variable on one line when nothing is set', () => {
    const message = refusal({});
    expect(message).toMatch(/^Configuration error: /);
    for (const name of ['DATABASE_URL', 'PUBLIC_BASE_URL', 'TOKEN_SECRET']) {
      expect(message).toContain(`${name} is missing`);
    }
  });

  it.each([
    ['mysql://ks@db/ks', 'DATABASE_URL must be a postgres:// URL'],
    ['http://db/ks', 'DATABASE_URL must be a postgres:// URL'],
    ['not a url', 'DATABASE_URL must be a postgres:// URL'],
  ])('refuses DATABASE_URL=%s', (value, expected) => {
    expect(refusal({ ...valid, DATABASE_URL: value })).toBe(`Configuration error: ${expected}`);
  });

  it('accepts postgresql:// as well', () => {
    expect(parseEnv({ ...valid, DATABASE_URL: 'postgresql://ks@db/ks' }).DATABASE_URL).toBe(
      'postgresql://ks@db/ks',
    );
  });

  it('refuses a short TOKEN_SECRET', () => {
    expect(refusal({ ...valid, TOKEN_SECRET: 'x'.repeat(31) })).toBe(
      'Configuration error: TOKEN_SECRET must be at least 32 characters',
    );
  });

  it.each(['40000,abc', '40000,,40001', '0', '70000', '40000;40001', '1.5'])(
    'refuses GATEWAY_PORTS=%s',
    (value) => {
      expect(refusal({ ...valid, GATEWAY_PORTS: value })).toBe(
        'Configuration error: GATEWAY_PORTS must be a comma-separated list of TCP ports',
      );
    },
  );

  it('parses a list of GATEWAY_PORTS', () => {
    expect(parseEnv({ ...valid, GATEWAY_PORTS: '41000, 41001,41002' }).GATEWAY_PORTS).toEqual([
      41000, 41001, 41002,
    ]);
  });

  it('refuses GATEWAY_PORTS that name a port twice', () => {
    expect(refusal({ ...valid, GATEWAY_PORTS: '40000,40000' })).toBe(
      'Configuration error: GATEWAY_PORTS must not name a port twice (40000)',
    );
    expect(refusal({ ...valid, GATEWAY_PORTS: '40000, 40001,40000' })).toBe(
      'Configuration error: GATEWAY_PORTS must not name a port twice (40000)',
    );
  });

  it.each([
    ['https://cloud.example.com', 'https://cloud.example.com'],
    ['https://cloud.example.com/', 'https://cloud.example.com'],
    ['https://cloud.example.com//', 'https://cloud.example.com'],
    ['https://cloud.example.com/ks', 'https://cloud.example.com/ks'],
    ['https://cloud.example.com/ks/', 'https://cloud.example.com/ks'],
    ['http://localhost:3000/', 'http://localhost:3000'],
    ['HTTPS://Cloud.Example.com:443/ks', 'https://cloud.example.com/ks'],
  ])('normalises PUBLIC_BASE_URL=%s to %s', (value, expected) => {
    expect(parseEnv({ ...valid, PUBLIC_BASE_URL: value }).PUBLIC_BASE_URL).toBe(expected);
  });

  it.each([
    ['https://cloud.example.com?x=1', 'PUBLIC_BASE_URL must have no query or fragment (? or #)'],
    ['https://cloud.example.com/ks?', 'PUBLIC_BASE_URL must have no query or fragment (? or #)'],
    ['https://cloud.example.com#top', 'PUBLIC_BASE_URL must have no query or fragment (? or #)'],
    ['https://cloud.example.com?x=1#y', 'PUBLIC_BASE_URL must have no query or fragment (? or #)'],
    ['ftp://cloud.example.com', 'PUBLIC_BASE_URL must be an http(s):// URL'],
    ['cloud.example.com', 'PUBLIC_BASE_URL must be an http(s):// URL'],
  ])('refuses PUBLIC_BASE_URL=%s', (value, expected) => {
    expect(refusal({ ...valid, PUBLIC_BASE_URL: value })).toBe(`Configuration error: ${expected}`);
  });

  it.each(['postgres://', 'postgresql://', 'postgres:///ks', 'postgres:///ks?host='])(
    'refuses DATABASE_URL=%s (no host)',
    (value) => {
      expect(refusal({ ...valid, DATABASE_URL: value })).toBe(
        'Configuration error: DATABASE_URL must name a host (postgres://user:password@host/database)',
      );
    },
  );

  it('accepts a DATABASE_URL whose host is a socket directory in its host parameter', () => {
    const url = 'postgres:///ks?host=/var/run/postgresql';
    expect(parseEnv({ ...valid, DATABASE_URL: url }).DATABASE_URL).toBe(url);
  });

  it.each(['abc', '0', '65536', '80.5', '-1'])('refuses PORT=%s', (value) => {
    expect(refusal({ ...valid, PORT: value })).toBe('Configuration error: PORT must be a TCP port (1-65535)');
  });

  it('parses PORT as a number', () => {
    expect(parseEnv({ ...valid, PORT: '8080' }).PORT).toBe(8080);
  });

  it('refuses an unknown KS_MODE', () => {
    expect(refusal({ ...valid, KS_MODE: 'staging' })).toMatch(/^Configuration error: KS_MODE /);
  });

  it('refuses production without RESEND_API_KEY (also when empty), and production is the default', () => {
    const expected = 'Configuration error: RESEND_API_KEY is required when KS_MODE=production';
    expect(refusal({ ...valid, KS_MODE: 'production' })).toBe(expected);
    expect(refusal({ ...valid, KS_MODE: 'production', RESEND_API_KEY: '' })).toBe(expected);
    const { KS_MODE: _, ...noMode } = valid;
    expect(refusal(noMode)).toBe(expected);
  });

  it('accepts production with RESEND_API_KEY and development without it', () => {
    expect(parseEnv({ ...valid, KS_MODE: 'production', RESEND_API_KEY: 're_123' }).RESEND_API_KEY).toBe(
      're_123',
    );
    expect(parseEnv({ ...valid, KS_MODE: 'development' }).KS_MODE).toBe('development');
  });

  it('refuses an EMAIL_FROM with a line break (header injection)', () => {
    expect(refusal({ ...valid, EMAIL_FROM: 'KS <a@b.c>\nBcc: x@y.z' })).toBe(
      'Configuration error: EMAIL_FROM must be on one line',
    );
  });

  it('joins several problems on one line', () => {
    const message = refusal({ ...valid, TOKEN_SECRET: 'short', PORT: 'abc' });
    expect(message).toContain('TOKEN_SECRET must be at least 32 characters');
    expect(message).toContain('PORT must be a TCP port (1-65535)');
  });
});

describe('api/main.ts without configuration', () => {
  it('exits 1 with one stderr line naming DATABASE_URL', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const lines = stderr.split('\n').filter((line) => line.length > 0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Configuration error: .*DATABASE_URL is missing/);
    expect(stderr).not.toMatch(/\bat /); // no stack trace
  }, 60_000);
});
