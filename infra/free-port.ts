import { createServer } from 'node:net';

/**
 * Ports handed out here lie below Linux's ephemeral range (32768–60999), where the OS picks ports for
 * `listen(0)` and for the local end of every outgoing connection: a port picked there and released
 * can be taken by any connection before its server binds it (seen as EADDRINUSE when many processes
 * run at once), one picked here only by another caller of this function.
 */
const LOW = 21_000;
const HIGH = 32_700;

/** Ports this process handed out: each goes to one caller, even before that caller binds it. */
const handedOut = new Set<number>();

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, never one this process handed out before, nor
 * one of `avoid`: ports configured for servers not listening yet (a launcher's gateway ports, which
 * another process picked), which a free-looking port may be.
 */
export async function freePort(opts: { avoid?: Iterable<number> } = {}): Promise<number> {
  const avoid = new Set(opts.avoid);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port) || avoid.has(port)) continue;
    // Taken before the check, so calls made at the same time never get the same port.
    handedOut.add(port);
    if (await canListen(port)) return port;
    handedOut.delete(port);
  }
  const port = await osPickedPort();
  handedOut.add(port);
  return port;
}

/** Whether a server could listen on `port` at 127.0.0.1 just now. */
export function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The OS's pick, when the range above is full. */
function osPickedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the port the OS picked'));
      });
    });
  });
}
