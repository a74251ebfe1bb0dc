import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * A small HTTP listener beside a process's real work: `GET /metrics` (Prometheus text format) for the
 * API (kept off its public port) and the gateway; for a process without an HTTP API of its own (the
 * gateway), given `ready`, also `GET /health/live` (200 while the process runs) and
 * `GET /health/ready` (200 when `ready()` says so, else 503).
 */
export function serveMetrics(opts: {
  registry: Registry;
  port: number;
  host?: string;
  ready?: () => Promise<boolean>;
}): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
    } else if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else if (path === '/health/live' && opts.ready) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (path === '/health/ready' && opts.ready) {
      opts.ready().then(
        (ok) =>
          res
            .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
            .end(JSON.stringify({ status: ok ? 'ok' : 'degraded' })),
        () => res.writeHead(503).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  return listen(server, opts.port, opts.host ?? '0.0.0.0');
}

function listen(server: Server, port: number, host: string): Promise<MetricsServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as { port: number }).port,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
