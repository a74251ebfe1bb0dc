// Provisions both Temporal servers (building/fetching what is not cached) so tests start fast; CI runs it first.

import type { EphemeralServerExecutable } from '@temporalio/testing';
import { provisionTemporalCli, provisionTestServer, temporalCacheDir } from '../infra/temporal-servers';

function describe(executable: EphemeralServerExecutable): string {
  return executable.type === 'existing-path'
    ? executable.path
    : 'SDK download at first use (no local toolchain)';
}

console.log(`cache: ${temporalCacheDir()}`);
console.log(`dev server (temporal CLI): ${describe(await provisionTemporalCli())}`);
console.log(`time-skipping test server: ${describe(await provisionTestServer())}`);
