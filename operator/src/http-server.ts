// The operator's HTTP endpoints: /metrics (Prometheus), /healthz
// (liveness: the process serves), /readyz (readiness: caches synced when
// leading; a standby waiting for the lease is ready too, it is healthy).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthSource {
  /** Empty when ready; otherwise why not. */
  notReadyReasons(): string[];
}

export class OperatorHttpServer {
  private server: Server | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly health: HealthSource,
  ) {}

  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405).end();
        return;
      }
      if (path === '/metrics') {
        this.registry.metrics().then(
          (text) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500).end(String(err)),
        );
        return;
      }
      if (path === '/healthz' || path === '/livez') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
        return;
      }
      if (path === '/readyz') {
        const reasons = this.health.notReadyReasons();
        res
          .writeHead(reasons.length === 0 ? 200 : 503, { 'Content-Type': 'text/plain' })
          .end(reasons.length === 0 ? 'ok\n' : `${reasons.join('\n')}\n`);
        return;
      }
      res
        .writeHead(404, { 'Content-Type': 'text/plain' })
        .end('not found: try /metrics, /healthz or /readyz\n');
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
