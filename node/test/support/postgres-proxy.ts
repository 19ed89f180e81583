// A TCP proxy in front of PostgreSQL that a test can turn into a black hole:
// connections stay open but no byte gets through, as with a partitioned
// network or a frozen server (the case connection-refused does not cover).
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface PostgresProxy {
  readonly port: number;
  /** From now on, drop every byte in both directions (connections stay open). */
  blackhole(): void;
  /** Forward again; connections whose bytes were dropped stay broken, new ones work. */
  restore(): void;
  close(): Promise<void>;
}

export async function startPostgresProxy(targetPort: number, host = '127.0.0.1'): Promise<PostgresProxy> {
  let dropping = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host, port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (chunk) => {
      if (!dropping) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!dropping) client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('proxy: no address');
  return {
    port: addr.port,
    blackhole: () => {
      dropping = true;
    },
    restore: () => {
      dropping = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
