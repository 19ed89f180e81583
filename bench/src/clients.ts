// The clients a load run can drive, behind one small interface: the kvring
// client's unary calls, its auto-batching Pipeline client, and ioredis with
// auto-pipelining (the Redis reference). Each is made once per run and kept
// warm across phases.
import { KvClient, PipelineClient } from '@kvring/client';
import type { Redis } from 'ioredis';

export type Protocol = 'unary' | 'pipelined' | 'redis';

export interface LoadClient {
  set(key: string, value: Buffer): Promise<unknown>;
  /** Resolves whether the key was found. */
  get(key: string): Promise<boolean>;
  /** Opens every connection (and learns the ring) before anything is timed. */
  warmUp(): Promise<void>;
  close(): void;
}

export interface ClientTarget {
  readonly addresses: readonly string[];
  readonly protocol?: Protocol;
  readonly ringAware?: boolean;
  readonly token?: string;
  readonly timeoutMs?: number;
}

export function makeClient(t: ClientTarget): LoadClient {
  const opts = { ringAware: t.ringAware ?? false, timeoutMs: t.timeoutMs ?? 10_000, token: t.token };
  switch (t.protocol ?? 'unary') {
    case 'unary':
      return unaryClient(new KvClient(t.addresses, opts), t);
    case 'pipelined':
      return pipelinedClient(new PipelineClient(t.addresses, opts), t);
    case 'redis':
      return redisClient(t.addresses[0]!, opts.timeoutMs);
  }
}

function unaryClient(c: KvClient, t: ClientTarget): LoadClient {
  return {
    set: (key, value) => c.set(key, value),
    get: async (key) => (await c.get(key)).found,
    async warmUp() {
      for (const address of t.addresses) await c.clusterInfo(address);
      if (t.ringAware) await c.refreshRing();
    },
    close: () => c.close(),
  };
}

function pipelinedClient(c: PipelineClient, t: ClientTarget): LoadClient {
  return {
    set: (key, value) => c.set(key, value),
    get: async (key) => (await c.get(key)).found,
    async warmUp() {
      if (t.ringAware) await c.refreshRing();
      // One operation per stream opens it (a miss: the key is of no run).
      await Promise.all(t.addresses.map(() => c.get('bench-warm-up')));
    },
    close: () => c.close(),
  };
}

function redisClient(address: string, timeoutMs: number): LoadClient {
  const [host, port] = splitAddress(address);
  // ioredis is the benchmark's reference client, a devDependency: it is
  // loaded when a Redis run starts, so the CLI (which imports this module for
  // `kvring bench`) runs where it is not installed (the images).
  let r: Redis | undefined;
  const redis = (): Redis => {
    if (r === undefined) throw new Error('the Redis client is used before warmUp()');
    return r;
  };
  return {
    set: (key, value) => redis().set(key, value),
    get: async (key) => (await redis().getBuffer(key)) !== null,
    warmUp: async () => {
      const { Redis: RedisClient } = await import('ioredis');
      r = new RedisClient({
        host,
        port,
        enableAutoPipelining: true,
        lazyConnect: true,
        commandTimeout: timeoutMs,
        maxRetriesPerRequest: 0,
      });
      await r.connect();
      await r.ping();
    },
    close: () => r?.disconnect(),
  };
}

function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}
