import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defaultCommandSecret } from '../../gateway/command-channel';
import { freePort } from '../../infra/free-port';

const root = fileURLToPath(new URL('../..', import.meta.url));
const entry = fileURLToPath(new URL('../faults/worker-entry.ts', import.meta.url));

export interface WorkerProcessOptions {
  databaseUrl: string;
  temporalAddress: string;
  taskQueue: string;
  workflowBundlePath: string;
  /** Emails through the Resend SDK to this stand-in; without it, the development mailbox. */
  resend?: { baseUrl: string; apiKey: string };
  /** Workflow cache with this sticky timeout; default: no cache (see worker-entry.ts). */
  stickyTimeoutMs?: number;
  /** Prefix of the lines copied to the test's output when the process fails. */
  label?: string;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The worker as a real child process (`node --import tsx test/faults/worker-entry.ts`) that a test
 * can SIGKILL and start again, or that kills itself at a crash point (KS_CRASH, see worker-entry.ts)
 * and is then started again without one, the way a process supervisor would.
 */
export class WorkerProcess {
  private child: ChildProcess | undefined;
  private exit: Promise<Exit> | undefined;
  private output: string[] = [];
  private supervising = false;
  private beforeRestart: (() => Promise<void>) | undefined;
  private restarting: Promise<void> | undefined;
  /** Crash points the process reported just before it killed itself. */
  readonly crashes: string[] = [];
  /** Activity attempts that failed (the SDK logs each as "Activity failed"). */
  failedActivityAttempts = 0;
  /** How many processes were started (1 + restarts). */
  starts = 0;

  constructor(private readonly opts: WorkerProcessOptions) {}

  /** Starts a process and resolves once its worker is polling. */
  async start(opts: { crash?: string | undefined } = {}): Promise<void> {
    if (this.child) throw new Error('worker process already running');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      DATABASE_URL: this.opts.databaseUrl,
      TEMPORAL_ADDRESS: this.opts.temporalAddress,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: this.opts.taskQueue,
      KS_WORKFLOW_BUNDLE: this.opts.workflowBundlePath,
      PUBLIC_BASE_URL: 'http://ks.test',
      SUPPORT_EMAIL: 'support@ks.test',
      ...(this.opts.resend
        ? { RESEND_BASE_URL: this.opts.resend.baseUrl, RESEND_API_KEY: this.opts.resend.apiKey }
        : {}),
      ...(this.opts.stickyTimeoutMs ? { KS_STICKY_TIMEOUT_MS: String(this.opts.stickyTimeoutMs) } : {}),
      ...(opts.crash ? { KS_CRASH: opts.crash } : {}),
    };
    const child = spawn(process.execPath, ['--import', 'tsx', entry], {
      cwd: root,
      env,
      // The child's stdin is our pipe: when this process dies, however, the child sees it end and dies too.
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.starts++;
    const exit = new Promise<Exit>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    this.exit = exit;
    const ready = new Promise<void>((resolve, reject) => {
      const onLine = (stream: 'out' | 'err') => (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (!line) continue;
          this.output.push(`${this.opts.label ?? 'worker'}[${child.pid}] ${stream}: ${line}`);
          if (this.output.length > 400) this.output.shift();
          if (line.includes('[worker-entry] ready')) resolve();
          if (line.includes('Activity failed')) this.failedActivityAttempts++;
          const crash = /^\[crash\] (.+)$/.exec(line);
          if (crash?.[1]) this.crashes.push(crash[1]);
        }
      };
      child.stdout?.on('data', onLine('out'));
      child.stderr?.on('data', onLine('err'));
      void exit.then((e) =>
        reject(new Error(`worker process exited before it was ready (${JSON.stringify(e)})\n${this.log()}`)),
      );
    });
    void exit.then(async (e) => {
      if (this.child === child) this.child = undefined;
      // A process that died on its own (a crash point) is started again, without the crash point.
      if (this.supervising && e.signal === 'SIGKILL') {
        this.restarting = (async () => {
          await this.beforeRestart?.();
          await this.start();
        })();
        await this.restarting.catch(() => {});
      }
    });
    await ready;
  }

  /**
   * Like `start`, and starts the process again whenever it dies of SIGKILL (a crash point), after
   * `beforeRestart` (e.g. failing the dead worker's started activities).
   */
  async startSupervised(
    opts: { crash?: string | undefined; beforeRestart?: () => Promise<void> } = {},
  ): Promise<void> {
    this.supervising = true;
    this.beforeRestart = opts.beforeRestart;
    await this.start({ crash: opts.crash });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGKILL (no graceful shutdown, nothing flushed) and wait until the process is gone. */
  async kill(): Promise<Exit | undefined> {
    const { child, exit } = this;
    if (!child || !exit) return undefined;
    const supervising = this.supervising;
    this.supervising = false;
    child.kill('SIGKILL');
    const result = await exit;
    this.supervising = supervising;
    return result;
  }

  /** Stops for good: no restart, process killed, any restart in flight awaited first. */
  async stop(): Promise<void> {
    this.supervising = false;
    await this.restarting?.catch(() => {});
    await this.kill();
  }

  /** The last lines the processes printed. */
  log(): string {
    return this.output.join('\n');
  }
}

const gatewayMain = fileURLToPath(new URL('../../gateway/main.ts', import.meta.url));
const dieWithParent = new URL('../faults/die-with-parent.ts', import.meta.url).href;

export interface GatewayProcessOptions {
  databaseUrl: string;
  temporalAddress: string;
  taskQueue: string;
  /** GATEWAY_PORTS: fixed ports, so a restarted process listens where the IQs reconnect. */
  ports: number[];
  label?: string;
}

/**
 * The device gateway as a real child process (`node --import tsx gateway/main.ts`, configured by
 * environment like production) that a test can SIGKILL and start again on the same ports. It dies
 * with the test process (a preload watches its stdin, as worker-entry.ts does).
 */
export class GatewayProcess {
  private child: ChildProcess | undefined;
  private exit: Promise<Exit> | undefined;
  private output: string[] = [];
  /** The instance id of the running process (a new one per start, as in production). */
  instanceId: string | undefined;
  starts = 0;

  constructor(private readonly opts: GatewayProcessOptions) {}

  async start(): Promise<void> {
    if (this.child) throw new Error('gateway process already running');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      KS_MODE: 'development',
      DATABASE_URL: this.opts.databaseUrl,
      PUBLIC_BASE_URL: 'http://ks.test',
      TOKEN_SECRET: 'gateway-process-secret-that-is-long-enough-0123456789',
      // The test process's gateway clients open locks on it with their own secret.
      GATEWAY_COMMAND_SECRET: defaultCommandSecret(),
      GATEWAY_PORTS: this.opts.ports.join(','),
      // Every simulated IQ connects from 127.0.0.1 (hello-guard.ts keeps the production cap low).
      GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: '50000',
      TEMPORAL_ADDRESS: this.opts.temporalAddress,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: this.opts.taskQueue,
    };
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', dieWithParent, gatewayMain], {
      cwd: root,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.starts++;
    const exit = new Promise<Exit>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    this.exit = exit;
    void exit.then(() => {
      if (this.child === child) {
        this.child = undefined;
        this.instanceId = undefined;
      }
    });
    await new Promise<void>((resolve, reject) => {
      const onLine = (stream: 'out' | 'err') => (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (!line) continue;
          this.output.push(`${this.opts.label ?? 'gateway'}[${child.pid}] ${stream}: ${line}`);
          if (this.output.length > 400) this.output.shift();
          const ready = /"instanceId":"([^"]+)".*listening on TCP/.exec(line);
          if (ready?.[1]) {
            this.instanceId = ready[1];
            resolve();
          }
        }
      };
      child.stdout?.on('data', onLine('out'));
      child.stderr?.on('data', onLine('err'));
      void exit.then((e) =>
        reject(new Error(`gateway process exited before it was ready (${JSON.stringify(e)})\n${this.log()}`)),
      );
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGKILL: no graceful shutdown, the IQ rows keep naming this instance. */
  async kill(): Promise<Exit | undefined> {
    const { child, exit } = this;
    if (!child || !exit) return undefined;
    child.kill('SIGKILL');
    return exit;
  }

  log(): string {
    return this.output.join('\n');
  }
}

/**
 * The gateway processes of one test file, on the test system's database, dev server and task queue,
 * each on fixed ports a restart keeps. The ports come from infra/free-port.ts, below the ephemeral
 * range: a port the OS picked for `listen(0)` and released can be taken by any outgoing connection
 * before the gateway binds it.
 */
export function gatewayProcesses(system: () => Omit<GatewayProcessOptions, 'ports' | 'label'>) {
  const started: GatewayProcess[] = [];
  return {
    freePorts: (count: number) => Promise.all(Array.from({ length: count }, () => freePort())),
    /** A gateway process (not started yet) listening on `ports`. */
    create(ports: number[], label: string): GatewayProcess {
      const gateway = new GatewayProcess({ ...system(), ports, label });
      started.push(gateway);
      return gateway;
    },
    killAll: () => Promise.all(started.map((g) => g.kill())),
  };
}
