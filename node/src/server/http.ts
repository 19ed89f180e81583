// The HTTP port: /metrics for Prometheus, /healthz for liveness (the process
// answers), /readyz for readiness (ring known and PostgreSQL reachable; the
// body says which check failed).
import { createServer, type Server } from 'node:http';
import type { Registry, RegistryContentType } from 'prom-client';

export interface Readiness {
  /** Undefined when ready, else the reason. */
  notReadyReason(): string | undefined;
  /** A JSON-able snapshot for humans and the operator. */
  status(): unknown;
}

export function httpServer(registry: Registry<RegistryContentType>, readiness: Readiness): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/metrics':
        registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (err: Error) => res.writeHead(500).end(err.message),
        );
        return;
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz': {
        const reason = readiness.notReadyReason();
        if (reason === undefined) res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
        else res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready: ${reason}\n`);
        return;
      }
      case '/status':
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify(readiness.status()) + '\n');
        return;
      default:
        res
          .writeHead(404, { 'content-type': 'text/plain' })
          .end('not found: try /metrics, /healthz, /readyz\n');
    }
  });
}
