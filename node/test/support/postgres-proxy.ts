// A TCP proxy in front of PostgreSQL that a test can turn into a black hole:
// connections stay open but no byte gets through, as with a partitioned
// network or a frozen server (the case connection-refused does not cover).
// It can also lose one answer: the request reaches PostgreSQL, which runs
// it, and the connection breaks before the client hears back (a write in
// doubt).
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface PostgresProxy {
  readonly port: number;
  /** From now on, drop every byte in both directions (connections stay open). */
  blackhole(): void;
  /** Forward again; connections whose bytes were dropped stay broken, new ones work. */
  restore(): void;
  /**
   * The next client chunk containing `marker` goes to PostgreSQL; its answer
   * is swallowed and that connection is cut once PostgreSQL has answered.
   */
  loseAnswerTo(marker: Buffer): void;
  /** How many client chunks containing the last loseAnswerTo marker reached PostgreSQL since. */
  sent(): number;
  close(): Promise<void>;
}

export async function startPostgresProxy(targetPort: number, host = '127.0.0.1'): Promise<PostgresProxy> {
  let dropping = false;
  let cut: Buffer | undefined;
  let watched: Buffer | undefined;
  let sent = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host, port: targetPort });
    let losing = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (chunk) => {
      if (dropping) return;
      if (watched && chunk.includes(watched)) sent++;
      if (cut && chunk.includes(cut)) {
        cut = undefined;
        losing = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (losing) client.destroy();
      else if (!dropping) client.write(chunk);
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
    loseAnswerTo: (marker) => {
      cut = watched = marker;
      sent = 0;
    },
    sent: () => sent,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
