/**
 * Property-based fuzzing of the HTTP API from its own /openapi.json with schemathesis, against the
 * real system (PostgreSQL, Temporal dev server, worker), authenticated as each role in turn. Fails on
 * any 5xx, on any answer that does not conform to the documented status codes, content types and
 * schemas (problem+json included), and on a role's run whose token stopped working on the way.
 * Run: npx tsx test/fuzz/api-fuzz.ts [--max-examples N]   (CI runs a short pass)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { eq } from 'drizzle-orm';
import { hashPassword } from '../../api/auth/passwords';
import { startLocalStack } from '../../bench/local-stack';
import { insertProfile } from '../../db/queries/profiles';
import { accessMethods, locks, memberships } from '../../db/schema';
import { provisionSchemathesis } from '../../infra/schemathesis';
import { DEMO_PASSWORD, seedDemo } from '../../scripts/seed-demo';

const { values } = parseArgs({ options: { 'max-examples': { type: 'string', default: '40' } } });
const maxExamples = Number(values['max-examples']);
const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
  'response_headers_conformance',
].join(',');

const st = await provisionSchemathesis();
const stack = await startLocalStack();
const workDir = await mkdtemp(join(tmpdir(), 'ks-fuzz-'));
let failedRoles = 0;
try {
  const demo = await seedDemo({
    db: stack.database.db,
    temporal: stack.temporal,
    taskQueue: stack.taskQueue,
    recordFile: join(workDir, 'demo.json'),
    planFile: join(workDir, 'demo-plan.json'),
    iqCredentialsFile: join(workDir, 'demo-iqs.json'),
  });
  const user = await insertProfile(stack.database.db, {
    email: 'user@example.com',
    name: 'Uma User',
    passwordHash: await hashPassword(DEMO_PASSWORD),
    emailConfirmedAt: new Date(),
  });
  await stack.database.db
    .insert(memberships)
    .values({ siteId: demo.siteId, profileId: user!.id, role: 'user' });

  const login = async (email: string) => {
    const res = await fetch(`${stack.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: DEMO_PASSWORD }),
    });
    return ((await res.json()) as { token: string }).token;
  };
  const roles: Array<[string, string | undefined]> = [
    ['anonymous', undefined],
    ['owner', await login('owner@example.com')],
    ['admin', await login('admin@example.com')],
    ['user', await login('user@example.com')],
    ['installer', await login('installer@example.com')],
    ['support', await login('support@example.com')],
  ];
  const member = await insertProfile(stack.database.db, {
    email: 'member@example.com',
    name: 'Mia Member',
    passwordHash: await hashPassword(DEMO_PASSWORD),
    emailConfirmedAt: new Date(),
  });
  const [lock] = await stack.database.db.select().from(locks).where(eq(locks.siteId, demo.siteId)).limit(1);
  const config = join(workDir, 'schemathesis.toml');
  /**
   * Paths aim at the demo site's own rows (its site, a lock and its IQ, a member who is none of the
   * roles and an active access method of theirs), so the fuzzing reaches real authorization,
   * validation and state instead of a 404 for an unknown id. Before each role's run the member and a
   * fresh access method are put back, as a role before may have removed or revoked them.
   */
  const aimAtDemoRows = async () => {
    await stack.database.db
      .insert(memberships)
      .values({ siteId: demo.siteId, profileId: member!.id, role: 'user' })
      .onConflictDoNothing();
    const [access] = await stack.database.db
      .insert(accessMethods)
      .values({ siteId: demo.siteId, profileId: member!.id, kind: 'remote' })
      .returning({ id: accessMethods.id });
    const pins = {
      siteId: demo.siteId,
      lockId: lock!.id,
      iqId: lock!.iqId,
      profileId: member!.id,
      accessId: access!.id,
    };
    await writeFile(
      config,
      `[parameters]\n${Object.entries(pins)
        .map(([name, id]) => `"path.${name}" = "${id}"\n`)
        .join('')}`,
    );
  };

  const fuzz = (token: string | undefined, filter: string[]) =>
    runCli(st, [
      '--config-file',
      config,
      'run',
      `${stack.url}/openapi.json`,
      '--checks',
      CHECKS,
      '--max-examples',
      String(maxExamples),
      // One worker: hypothesis on Python 3.11 trips over its own AST cache when threads share it.
      '--workers',
      '1',
      '--seed',
      '1',
      '--no-color',
      '--max-failures',
      '20',
      ...filter,
      ...(token ? ['--header', `Authorization: Bearer ${token}`] : []),
    ]);
  for (const [role, token] of roles) {
    await aimAtDemoRows();
    const before = { ...stack.served, byStatus: new Map(stack.served.byStatus) };
    // A role's token lives through its run: logOut ends it (A5), so it is fuzzed last, on its own;
    // fuzzed among the others, it left every operation after it answered 401 before its route.
    const passes = token
      ? [
          ['--exclude-operation-id', 'logOut'],
          ['--include-operation-id', 'logOut'],
        ]
      : [[]];
    const runs = [];
    for (const filter of passes) runs.push(await fuzz(token, filter));
    const requests = stack.served.requests - before.requests;
    const errors = stack.served.serverErrors - before.serverErrors;
    const unauthorized = (stack.served.byStatus.get(401) ?? 0) - (before.byStatus.get(401) ?? 0);
    console.log(
      `fuzz as ${role.padEnd(9)}: ${requests} requests, ${unauthorized} answered 401, ${errors} answered 5xx, ` +
        `schemathesis exit ${runs.map((r) => r.code).join(' ')}`,
    );
    // A token that died mid-run leaves the routes behind it unfuzzed, and the run would still pass.
    const tokenDied = token !== undefined && unauthorized > requests / 10;
    if (tokenDied) console.log(`  ${role}: more than a tenth of the requests answered 401, the token died`);
    const failed = runs.filter((r) => r.code !== 0);
    if (tokenDied || failed.length > 0) failedRoles++;
    for (const { output } of failed) {
      const start = output.indexOf('FAILURES');
      const end = output.indexOf('SUMMARY');
      console.log(
        output
          .slice(start === -1 ? 0 : start, end === -1 ? undefined : end)
          .split('\n')
          .slice(0, 200)
          .join('\n'),
      );
    }
  }
  const statuses = [...stack.served.byStatus.entries()].sort(([a], [b]) => a - b);
  console.log(
    `\napi-fuzz: ${stack.served.requests} requests in all, ${stack.served.serverErrors} answered 5xx`,
  );
  console.log(`  by status: ${statuses.map(([s, n]) => `${s}×${n}`).join(' ')}`);
  console.log(`  roles with conformance failures or a dead token: ${failedRoles}`);
} finally {
  await stack.stop();
  await rm(workDir, { recursive: true, force: true });
}
process.exit(stack.served.serverErrors > 0 || failedRoles > 0 ? 1 : 0);

function runCli(bin: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    // schemathesis keeps a crash cache in its working directory: keep it out of the repository.
    const child = spawn(bin, args, { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}
