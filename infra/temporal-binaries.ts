import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { access, chmod, cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { EphemeralServerExecutable } from '@temporalio/testing';
import { DIE_WITH_PARENT, type Log } from './server-process';

/**
 * The Temporal binaries, obtained once per machine into a cache outside git, in this order: a path
 * from the environment, else the cache, else a build here (`go install`, or `mvn` for the Java test
 * server), else the SDK's own download where there is one (the dev and test servers only).
 */
const TEMPORAL_CLI_VERSION = '1.5.1';
/** The server, its SQL schema tool and the Web UI server are the versions the CLI above embeds. */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
export const TEMPORAL_UI_VERSION = '2.42.1';
const TEST_SERVER_VERSION = '1.38.0';
/** What the test server is built with (the patch says why). */
const TEST_SERVER_PATCH = fileURLToPath(
  new URL(`./temporal-test-server-${TEST_SERVER_VERSION}.patch`, import.meta.url),
);
/** The one class the patch changes (javac writes its inner classes beside it). */
const PATCHED = 'io/temporal/internal/testservice/TestWorkflowMutableStateImpl';
const PATCHED_SOURCE = `${PATCHED}.java`;
const PATCHED_CLASS = `${PATCHED}.class`;
/** Last resort on machines with internet: the SDK downloads the server itself. */
export const SDK_DOWNLOAD: EphemeralServerExecutable = { type: 'cached-download' };
/** Where the versioned PostgreSQL schemas sit in the server module and in the cache (as in temporalio/admin-tools). */
const POSTGRES_SCHEMA = 'schema/postgresql/v12';

const logToStderr: Log = (line) => console.error(line);

/** Where built/fetched servers live: outside git, shared by every checkout of the project. */
export function temporalCacheDir(): string {
  return (
    process.env.KS_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ks-cloud')
  );
}

interface GoBinary {
  /** Environment variable with a path that takes precedence over the cache. */
  envVar: string;
  /** `go install` target without the version. */
  pkg: string;
  version: string;
  /** The file name in the cache (go install names a binary after its package's last element). */
  name: string;
  /** The cache directory's name. */
  dir: string;
  /** Extra files taken from the module after the build, copied in before the binary is. */
  afterBuild?: (dir: string, log: Log) => Promise<void>;
  /** A cached binary counts only when this holds too. */
  complete?: (dir: string) => boolean;
}

const TEMPORAL_CLI: GoBinary = {
  envVar: 'TEMPORAL_CLI_PATH',
  pkg: 'github.com/temporalio/cli/cmd/temporal',
  version: TEMPORAL_CLI_VERSION,
  name: 'temporal',
  dir: `temporal-cli-${TEMPORAL_CLI_VERSION}`,
};

const TEMPORAL_SERVER: GoBinary = {
  envVar: 'TEMPORAL_SERVER_PATH',
  pkg: 'go.temporal.io/server/cmd/server',
  version: TEMPORAL_SERVER_VERSION,
  name: 'temporal-server',
  dir: `temporal-server-${TEMPORAL_SERVER_VERSION}`,
};

const TEMPORAL_SQL_TOOL: GoBinary = {
  envVar: 'TEMPORAL_SQL_TOOL_PATH',
  pkg: 'go.temporal.io/server/cmd/tools/sql',
  version: TEMPORAL_SERVER_VERSION,
  name: 'temporal-sql-tool',
  dir: `temporal-sql-tool-${TEMPORAL_SERVER_VERSION}`,
  afterBuild: (dir, log) => copySchemas(`go.temporal.io/server@v${TEMPORAL_SERVER_VERSION}`, dir, log),
  complete: (dir) => existsSync(join(dir, POSTGRES_SCHEMA, 'visibility', 'versioned')),
};

const TEMPORAL_UI_SERVER: GoBinary = {
  envVar: 'TEMPORAL_UI_SERVER_PATH',
  pkg: 'github.com/temporalio/ui-server/v2/cmd/server',
  version: TEMPORAL_UI_VERSION,
  name: 'temporal-ui-server',
  dir: `temporal-ui-server-${TEMPORAL_UI_VERSION}`,
};

/**
 * The Temporal CLI (dev server): $TEMPORAL_CLI_PATH, else the cached build, else a fresh
 * `go install` into the cache, else the SDK's download.
 */
export async function provisionTemporalCli(log: Log = logToStderr): Promise<EphemeralServerExecutable> {
  const path = await provisionGoBinary(TEMPORAL_CLI, log);
  return path ? existingPath(path) : SDK_DOWNLOAD;
}

/** The Temporal server (`temporal-server start --service …`): a path, or undefined without Go. */
export function provisionTemporalServer(log: Log = logToStderr): Promise<string | undefined> {
  return provisionGoBinary(TEMPORAL_SERVER, log);
}

/** The Temporal Web UI server (ui-server): a path, or undefined without Go. */
export function provisionTemporalUiServer(log: Log = logToStderr): Promise<string | undefined> {
  return provisionGoBinary(TEMPORAL_UI_SERVER, log);
}

export interface SqlTool {
  path: string;
  /** `schema/postgresql/v12` of the same server version: `temporal/versioned`, `visibility/versioned`. */
  schemaDir: string;
}

/**
 * `temporal-sql-tool` and the PostgreSQL schemas it applies: $TEMPORAL_SQL_TOOL_PATH (with
 * $TEMPORAL_SQL_SCHEMA_DIR, else `schema/postgresql/v12` beside the binary), else the cache, else
 * built here; undefined without Go.
 */
export async function provisionTemporalSqlTool(log: Log = logToStderr): Promise<SqlTool | undefined> {
  const path = await provisionGoBinary(TEMPORAL_SQL_TOOL, log);
  if (!path) return undefined;
  const schemaDir = process.env.TEMPORAL_SQL_SCHEMA_DIR ?? join(dirname(path), POSTGRES_SCHEMA);
  return { path, schemaDir };
}

/**
 * The Java time-skipping test server: $TEMPORAL_TEST_SERVER_PATH, else a launcher for the cached
 * Maven jars with TEST_SERVER_PATCH's classes first, else both built now (`mvn`, `git apply`, `javac`),
 * else the SDK's download (unpatched).
 */
export async function provisionTestServer(log: Log = logToStderr): Promise<EphemeralServerExecutable> {
  if (process.env.TEMPORAL_TEST_SERVER_PATH) return existingPath(process.env.TEMPORAL_TEST_SERVER_PATH);
  if (!(await onPath('java'))) return SDK_DOWNLOAD;
  const dir = join(temporalCacheDir(), `test-server-${TEST_SERVER_VERSION}`);
  const lib = join(dir, 'lib');
  const patch = await readFile(TEST_SERVER_PATCH, 'utf8');
  // Named by the patch's hash: a changed patch is built afresh beside the old one.
  const classes = join(dir, `patched-${createHash('sha256').update(patch).digest('hex').slice(0, 12)}`);
  const built = () => hasTestServerJars(lib) && existsSync(join(classes, PATCHED_CLASS));
  if (!built()) {
    if (!(await onPath('mvn')) || !(await onPath('javac'))) return SDK_DOWNLOAD;
    await withLock(`${dir}.lock`, log, async () => {
      if (!hasTestServerJars(lib)) await fetchTestServerJars(dir, log);
      if (!built()) await buildPatchedClasses(dir, lib, classes, log);
    });
  }
  return existingPath(await writeTestServerLauncher(dir, [classes, join(lib, '*')]));
}

function existingPath(path: string): EphemeralServerExecutable {
  return { type: 'existing-path', path };
}

/** The environment's path, else the cache, else a build into the cache under a lock; undefined without Go. */
async function provisionGoBinary(binary: GoBinary, log: Log): Promise<string | undefined> {
  const fromEnv = process.env[binary.envVar];
  if (fromEnv) return fromEnv;
  const dir = join(temporalCacheDir(), binary.dir);
  const path = join(dir, binary.name);
  const cached = () => runsOk(path) && (binary.complete?.(dir) ?? true);
  if (cached()) return path;
  if (!(await onPath('go'))) return undefined;
  await withLock(`${dir}.lock`, log, async () => {
    // Another process may have finished the build while we waited for the lock.
    if (!cached()) await buildGoBinary(binary, dir, log);
  });
  return path;
}

/** A half-written binary (a build still copying it) fails to run, so "runs" is the cache check. */
function runsOk(binary: string): boolean {
  return (
    existsSync(binary) && spawnSync(binary, ['--version'], { stdio: 'ignore', timeout: 15_000 }).status === 0
  );
}

function hasTestServerJars(lib: string): boolean {
  return existsSync(join(lib, `temporal-test-server-${TEST_SERVER_VERSION}.jar`));
}

async function onPath(command: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this PATH entry
    }
  }
  return false;
}

/** Builds into a private GOBIN and renames the binary into place last, so a partial build is never used. */
async function buildGoBinary(binary: GoBinary, dir: string, log: Log): Promise<void> {
  const target = `${binary.pkg}@v${binary.version}`;
  log(`Building ${target} with go install into ${dir} (takes a few minutes)...`);
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    await run('go', ['install', target], { env: { ...process.env, GOBIN: tmp } });
    await binary.afterBuild?.(dir, log);
    const [built] = await readdir(tmp);
    if (!built) throw new Error(`go install ${target} wrote no binary`);
    await rename(join(tmp, built), join(dir, binary.name));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Copies the module's versioned PostgreSQL schemas (which the build has just downloaded into the Go
 * module cache) into the cache dir, writable so that the cache can be deleted like any directory.
 */
async function copySchemas(module: string, dir: string, log: Log): Promise<void> {
  const { stdout } = await promisify(execFile)('go', ['mod', 'download', '-json', module]);
  const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  if (!moduleDir) throw new Error(`go mod download ${module} named no directory`);
  const target = join(dir, POSTGRES_SCHEMA);
  log(`Copying ${POSTGRES_SCHEMA} of ${module} into ${dir}...`);
  await rm(target, { recursive: true, force: true });
  await cp(join(moduleDir, POSTGRES_SCHEMA), target, { recursive: true });
  await makeWritable(target);
}

async function makeWritable(path: string): Promise<void> {
  const entries = await readdir(path, { withFileTypes: true });
  await chmod(path, 0o755);
  for (const entry of entries) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await makeWritable(child);
    else await chmod(child, 0o644);
  }
}

/** Fetches the jars into a private dir and renames it to `lib`, so a partial fetch is never used. */
async function fetchTestServerJars(dir: string, log: Log): Promise<void> {
  log(`Fetching Temporal test server ${TEST_SERVER_VERSION} jars with mvn into ${dir}...`);
  const tmp = join(dir, `lib.tmp-${process.pid}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'pom.xml'), testServerPom());
  await rm(tmp, { recursive: true, force: true });
  try {
    await run(
      'mvn',
      ['-q', '-B', '-Dstyle.color=never', 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`],
      { cwd: dir },
    );
    await rename(tmp, join(dir, 'lib'));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The patched class, compiled against the fetched jars into `classes` (renamed into place last, so
 * a partial build is never used): its source from the server's sources jar, TEST_SERVER_PATCH applied.
 */
async function buildPatchedClasses(dir: string, lib: string, classes: string, log: Log): Promise<void> {
  log(`Building the Temporal test server's patched class into ${classes}...`);
  const tmp = join(dir, `patch.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(join(tmp, 'classes'), { recursive: true });
  try {
    const artifact = `io.temporal:temporal-test-server:${TEST_SERVER_VERSION}:jar:sources`;
    await run(
      'mvn',
      [
        '-q',
        '-B',
        '-Dstyle.color=never',
        'dependency:copy',
        `-Dartifact=${artifact}`,
        `-DoutputDirectory=${tmp}`,
      ],
      { cwd: dir },
    );
    await run('jar', ['xf', `temporal-test-server-${TEST_SERVER_VERSION}-sources.jar`, PATCHED_SOURCE], {
      cwd: tmp,
    });
    // Outside any repository (the ceiling), git apply patches the files under its directory.
    await run('git', ['apply', TEST_SERVER_PATCH], {
      cwd: tmp,
      env: { ...process.env, GIT_CEILING_DIRECTORIES: dir },
    });
    await run(
      'javac',
      [
        '-nowarn',
        '-Xlint:-options',
        '--release',
        '8',
        '-encoding',
        'UTF-8',
        '-cp',
        join(lib, '*'),
        '-d',
        'classes',
        PATCHED_SOURCE,
      ],
      { cwd: tmp },
    );
    await rm(classes, { recursive: true, force: true });
    await rename(join(tmp, 'classes'), classes);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function testServerPom(): string {
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ks.cloud</groupId><artifactId>test-server-fetch</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>${TEST_SERVER_VERSION}</version></dependency>
  </dependencies>
</project>
`;
}

/**
 * The SDK runs `<launcher> <port>`; `exec` makes the SDK's kill reach java itself. `classpath` in
 * order: the patched classes come before the jars'.
 */
async function writeTestServerLauncher(dir: string, classpath: string[]): Promise<string> {
  const launcher = join(dir, 'test-server.sh');
  const script = `#!/bin/sh
# Generated by infra/temporal-binaries.ts.
# Client JIT and serial GC: the server must answer within the SDK's 5 s start window on a busy machine.
${DIE_WITH_PARENT}exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp ${shellQuote(classpath.join(':'))} io.temporal.testserver.TestServer "$1" --enable-time-skipping
`;
  const current = existsSync(launcher) ? await readFile(launcher, 'utf8') : undefined;
  if (current !== script) {
    const tmp = `${launcher}.tmp-${process.pid}`;
    await writeFile(tmp, script, { mode: 0o755 });
    await rename(tmp, launcher);
  }
  return launcher;
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Serializes builds across processes with an atomic mkdir. Correctness does not depend on it (the
 * results are renamed into place); it only avoids building the same thing twice at once.
 */
async function withLock(lockDir: string, log: Log, fn: () => Promise<void>): Promise<void> {
  await mkdir(dirname(lockDir), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      await mkdir(lockDir, { recursive: false });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await lockHolderDied(lockDir)) {
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!announced) log(`Waiting for another process that holds ${lockDir}...`);
    announced = true;
    await sleep(1_000);
  }
  try {
    await writeFile(join(lockDir, 'pid'), String(process.pid));
    await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

async function lockHolderDied(lockDir: string): Promise<boolean> {
  const pid = Number(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => ''));
  if (!pid) return false; // just created, pid not written yet
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...opts, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? code})`)),
    );
  });
}
