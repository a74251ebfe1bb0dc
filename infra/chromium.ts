import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export type ChromiumLookup = { path: string } | { missing: string };

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

function onPath(): string | undefined {
  const given = process.env.CHROMIUM_PATH;
  if (given) return existsSync(given) ? given : undefined;
  return CANDIDATES.find((candidate) => existsSync(candidate));
}

/**
 * A headless browser for the browser tests: CHROMIUM_PATH, else Debian's `chromium`, installed with
 * apt-get when missing and this process may (root, apt-get present). Otherwise says why there is none,
 * so the tests can skip with that message.
 */
export function ensureChromium(log: (line: string) => void = () => {}): ChromiumLookup {
  const found = onPath();
  if (found) return { path: found };
  if (process.env.CHROMIUM_PATH)
    return { missing: `CHROMIUM_PATH=${process.env.CHROMIUM_PATH} does not exist` };
  if (process.getuid?.() !== 0) return { missing: 'chromium is not installed and installing it needs root' };
  if (!existsSync('/usr/bin/apt-get'))
    return { missing: 'chromium is not installed and there is no apt-get' };
  const apt = (args: string[]) =>
    execFileSync('apt-get', args, {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 900_000,
    });
  try {
    log('installing Debian chromium for the browser tests (once per machine)…');
    try {
      apt(['install', '-y', '--no-install-recommends', 'chromium']);
    } catch {
      apt(['update']);
      apt(['install', '-y', '--no-install-recommends', 'chromium']);
    }
  } catch (error) {
    return { missing: `apt-get install chromium failed: ${(error as Error).message.split('\n')[0]}` };
  }
  const installed = onPath();
  return installed ? { path: installed } : { missing: 'apt-get installed chromium but no binary was found' };
}
