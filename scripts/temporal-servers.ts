// Provisions every Temporal binary (building/fetching what is not cached) so tests and start:cluster
// start fast; CI runs it first. Without Go the cluster binaries are reported missing (the cluster test then skips).

import type { EphemeralServerExecutable } from '@temporalio/testing';
import {
  provisionTemporalCli,
  provisionTemporalServer,
  provisionTemporalSqlTool,
  provisionTemporalUiServer,
  provisionTestServer,
  temporalCacheDir,
} from '../infra/temporal-binaries';

function describe(executable: EphemeralServerExecutable): string {
  return executable.type === 'existing-path'
    ? executable.path
    : 'SDK download at first use (no local toolchain)';
}

const NO_GO = 'not available (no path in the environment, nothing cached, no Go to build it)';

console.log(`cache: ${temporalCacheDir()}`);
console.log(`dev server (temporal CLI): ${describe(await provisionTemporalCli())}`);
console.log(`time-skipping test server: ${describe(await provisionTestServer())}`);
// The cluster's binaries one after the other: each go install uses both cores on its own.
const server = await provisionTemporalServer();
console.log(`Temporal server: ${server ?? NO_GO}`);
const sqlTool = await provisionTemporalSqlTool();
console.log(`temporal-sql-tool: ${sqlTool ? `${sqlTool.path} (schemas: ${sqlTool.schemaDir})` : NO_GO}`);
const ui = await provisionTemporalUiServer();
console.log(`Temporal Web UI server: ${ui ?? NO_GO}`);
