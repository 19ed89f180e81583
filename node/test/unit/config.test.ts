import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const base = { KVRING_NODE_NAME: 'a', KVRING_PEERS: 'a=127.0.0.1:50052,b=127.0.0.2:50052,c=127.0.0.3:50052' };

describe('loadConfig', () => {
  it('applies defaults: the prototype ports and a 2/2/3 quorum', () => {
    const c = loadConfig(base);
    expect(c.clientPort).toBe(50051);
    expect(c.peerPort).toBe(50052);
    expect(c.httpPort).toBe(8080);
    expect([c.replicationFactor, c.readQuorum, c.writeQuorum]).toEqual([3, 2, 2]);
    expect(c.maxMemory).toBe(256 * 1024 * 1024);
    expect(c.staticPeers.get('b')).toBe('127.0.0.2:50052');
  });

  it('lets flags override the environment', () => {
    const c = loadConfig({ ...base, KVRING_MAX_MEMORY: '1Gi' }, [
      '--max-memory',
      '64Mi',
      '--default-ttl=30s',
    ]);
    expect(c.maxMemory).toBe(64 * 1024 * 1024);
    expect(c.defaultTtlMs).toBe(30_000);
  });

  it.each([
    [{ KVRING_CLIENT_PORT: 'abc' }, /KVRING_CLIENT_PORT \(--client-port\): expected an integer/],
    [{ KVRING_CLIENT_PORT: '70000' }, /KVRING_CLIENT_PORT.*at most 65535/],
    [{ KVRING_MAX_MEMORY: 'lots' }, /KVRING_MAX_MEMORY.*expected a size/],
    [{ KVRING_WARMUP_MAX_BYTES: '-1' }, /KVRING_WARMUP_MAX_BYTES \(--warmup-max-bytes\)/],
    [{ KVRING_WARMUP_MAX_BYTES: '65Gi' }, /KVRING_WARMUP_MAX_BYTES.*at most/],
    [{ KVRING_WARMUP_TIMEOUT: '50ms' }, /KVRING_WARMUP_TIMEOUT \(--warmup-timeout\).*at least 100/],
    [{ KVRING_WARMUP_TIMEOUT: '11m' }, /KVRING_WARMUP_TIMEOUT.*at most 600000/],
    [{ KVRING_WRITE_QUORUM: '4' }, /KVRING_WRITE_QUORUM \(4\) must not exceed KVRING_REPLICATION_FACTOR/],
    [{ KVRING_READ_QUORUM: '1', KVRING_WRITE_QUORUM: '1' }, /must exceed KVRING_REPLICATION_FACTOR/],
    [{ KVRING_PEERS: 'a=nohostport' }, /KVRING_PEERS: expected name=host:port/],
    [{ KVRING_NODE_NAME: 'z' }, /must list this node's own name "z"/],
    [{ KVRING_POSTGRES_TABLE: 'kv; drop' }, /KVRING_POSTGRES_TABLE: expected an SQL identifier/],
    [{ KVRING_LEGACY_URL: 'ftp://x' }, /KVRING_LEGACY_URL/],
  ])('rejects %j naming the setting', (override, message) => {
    expect(() => loadConfig({ ...base, ...override })).toThrow(message);
    expect(() => loadConfig({ ...base, ...override })).toThrow(ConfigError);
  });

  it('rejects unknown flags', () => {
    expect(() => loadConfig(base, ['--no-such-thing', '1'])).toThrow(/unknown flag --no-such-thing/);
  });

  it('requires some membership source', () => {
    expect(() => loadConfig({ KVRING_NODE_NAME: 'a' })).toThrow(
      /KVRING_PEERS .* or KVRING_DISCOVERY_SERVICE/,
    );
  });
});

describe('documentation', () => {
  it('README lists every setting with its flag', async () => {
    const { readFileSync } = await import('node:fs');
    const { SETTINGS, flagName } = await import('../../src/config/settings.js');
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const missing = SETTINGS.filter((s) => !readme.includes(`| \`${s.env}\` | \`${flagName(s.env)}\` |`));
    expect(missing.map((s) => s.env)).toEqual([]);
  });
});
