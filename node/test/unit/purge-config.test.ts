import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const base = { KVRING_NODE_NAME: 'a', KVRING_PEERS: 'a=127.0.0.1:50052' };

describe('KVRING_PURGE_AFTER', () => {
  it('defaults to 24 h, well past the defaults it must exceed (1 h of hints, 20 s, 2 × 30 s, 5 s)', () => {
    const c = loadConfig(base);
    expect(c.purgeAfterMs).toBe(24 * 3600 * 1000);
    expect(c.idempotencyTtlMs).toBe(24 * 3600 * 1000);
  });

  it('refuses at start-up a horizon a replica could still hold an older value past, naming the settings', () => {
    const load = () => loadConfig({ ...base, KVRING_PURGE_AFTER: '30m' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(
      /KVRING_PURGE_AFTER \(1800000 ms\) must exceed KVRING_HINTS_MAX_AGE \(3600000 ms\) \+ KVRING_SHUTDOWN_TIMEOUT \(20000 ms\) \+ 2 × KVRING_ANTI_ENTROPY_INTERVAL \(30000 ms\) \+ KVRING_REQUEST_TIMEOUT \(5000 ms\) = 3685000 ms/,
    );
    // Exactly the sum is still too short; one millisecond more is accepted.
    expect(() => loadConfig({ ...base, KVRING_PURGE_AFTER: '3685000ms' })).toThrow(/KVRING_PURGE_AFTER/);
    expect(loadConfig({ ...base, KVRING_PURGE_AFTER: '3685001ms' }).purgeAfterMs).toBe(3_685_001);
  });

  it('follows the settings it depends on', () => {
    const short = {
      KVRING_HINTS_MAX_AGE: '1s',
      KVRING_SHUTDOWN_TIMEOUT: '1s',
      KVRING_ANTI_ENTROPY_INTERVAL: '500ms',
      KVRING_REQUEST_TIMEOUT: '2s',
    };
    expect(loadConfig({ ...base, ...short, KVRING_PURGE_AFTER: '6s' }).purgeAfterMs).toBe(6000);
    expect(() =>
      loadConfig({ ...base, ...short, KVRING_HINTS_MAX_AGE: '2s', KVRING_PURGE_AFTER: '6s' }),
    ).toThrow(/KVRING_HINTS_MAX_AGE \(2000 ms\)/);
  });

  it('refuses an idempotency retention under a second', () => {
    expect(() => loadConfig({ ...base, KVRING_IDEMPOTENCY_TTL: '10ms' })).toThrow(
      /KVRING_IDEMPOTENCY_TTL.*at least 1000/,
    );
  });
});
