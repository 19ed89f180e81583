// The Redis reference of `make bench`: Debian's redis-server (installed on
// first use by scripts/ensure-redis.sh), started on a loopback address with
// a temporary directory of its own, once with its default persistence (RDB
// snapshots) and once with every write fsynced to the append-only file
// before it is acknowledged (the durability a kvring SET has), and stopped
// afterwards.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child } from '@kvring/devcluster/process';
import { awaitOutput } from './servers.js';

export type RedisPersistence = 'default' | 'aof-always';

export interface RedisHandle {
  readonly name: string;
  readonly address: string;
  readonly pid: number;
  stop(): Promise<void>;
}

const ENSURE = fileURLToPath(new URL('../../scripts/ensure-redis.sh', import.meta.url));

/** Installs redis-server when it is missing (root: apt-get; otherwise says what to install). */
export function ensureRedis(): void {
  const r = spawnSync('bash', [ENSURE], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`redis-server is not available (${ENSURE} exited ${r.status})`);
}

/** A TCP port free on `host` right now (redis-server cannot pick one itself: port 0 turns TCP off). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function startRedis(host: string, persistence: RedisPersistence): Promise<RedisHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'kvring-bench-redis-'));
  const port = await freePort(host);
  const durable = persistence === 'aof-always' ? ['--appendonly', 'yes', '--appendfsync', 'always'] : [];
  const child = new Child({
    name: `redis-${persistence}`,
    command: 'redis-server',
    // No config file: Redis's built-in defaults, plus where to listen and write.
    args: ['--bind', host, '--port', String(port), '--dir', dir, '--protected-mode', 'no', ...durable],
    env: {},
  });
  const stop = async (): Promise<void> => {
    await child.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  };
  child.start();
  try {
    await awaitOutput(child, /Ready to accept connections/, 'redis-server');
  } finally {
    if (!child.running) rmSync(dir, { recursive: true, force: true });
  }
  return {
    name: persistence === 'default' ? 'Redis (default persistence)' : 'Redis (appendfsync always)',
    address: `${host}:${port}`,
    pid: child.pid!,
    stop,
  };
}
