/**
 * `npm run lint:openapi`: the OpenAPI document the API serves at /openapi.json (development mode, the
 * superset), linted with Redocly's recommended rules (issue 16). Nothing is started: the document
 * is built in this process (openapi-document.ts) and written to a temporary file. Fails on any
 * problem, warnings included (Redocly itself fails on errors only).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOpenApiDocument } from './openapi-document';

interface LintReport {
  totals: { errors: number; warnings: number };
  problems: Array<{
    ruleId: string;
    severity: string;
    message: string;
    location: Array<{ pointer: string }>;
  }>;
}

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ks-openapi-'));
const file = join(dir, 'openapi.json');
let report: LintReport;
try {
  writeFileSync(file, JSON.stringify(await buildOpenApiDocument(), null, 2));
  const lint = spawnSync(
    join(root, 'node_modules', '.bin', 'redocly'),
    ['lint', file, '--extends=recommended', '--format=json', '--max-problems=1000'],
    {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      // Offline and quiet: no usage telemetry, no look for a newer version.
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    },
  );
  if (lint.error) throw lint.error;
  try {
    report = JSON.parse(lint.stdout) as LintReport;
  } catch {
    process.stderr.write(lint.stderr);
    throw new Error(`redocly lint exited ${lint.status} without a report`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
for (const p of report.problems) {
  console.log(`${p.severity.padEnd(5)} ${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`);
}
const { errors, warnings } = report.totals;
console.log(`openapi lint (Redocly recommended): ${errors} errors, ${warnings} warnings`);
process.exit(errors + warnings === 0 ? 0 : 1);
