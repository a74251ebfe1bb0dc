import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { temporalCacheDir } from './temporal-binaries';

const run = promisify(execFile);
export const SCHEMATHESIS_VERSION = '4.32.5';

/**
 * The `st` CLI of schemathesis (from PyPI) in a virtualenv cached beside the Temporal servers, built
 * on first use with the machine's python3. SCHEMATHESIS_BIN overrides it.
 */
export async function provisionSchemathesis(log: (line: string) => void = console.error): Promise<string> {
  if (process.env.SCHEMATHESIS_BIN) return process.env.SCHEMATHESIS_BIN;
  const venv = join(temporalCacheDir(), `schemathesis-${SCHEMATHESIS_VERSION}`);
  const bin = join(venv, 'bin', 'st');
  // The marker is written last: a venv left half-built by an interrupted install is rebuilt.
  const complete = join(venv, '.complete');
  if (existsSync(complete)) return bin;
  log(`Installing schemathesis ${SCHEMATHESIS_VERSION} into ${venv} (once per machine)…`);
  await rm(venv, { recursive: true, force: true });
  await run('python3', ['-m', 'venv', venv]);
  await run(join(venv, 'bin', 'pip'), ['install', '-q', `schemathesis==${SCHEMATHESIS_VERSION}`], {
    maxBuffer: 16 * 1024 * 1024,
  });
  await writeFile(complete, '');
  return bin;
}
