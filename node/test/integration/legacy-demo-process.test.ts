// The demo legacy API as a process: settings from LEGACY_* variables, the
// token switch, and a clean exit on SIGTERM.
import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { LegacyClient } from '../../src/legacy/client.js';
import { LegacyUnavailableError } from '../../src/legacy/errors.js';
import { startLegacyProcess } from '../support/legacy.js';

const log = pino({ level: 'silent' });

describe('demo legacy process', () => {
  it('takes its settings from LEGACY_* variables, enforces its token and exits 0 on SIGTERM', async () => {
    const legacy = await startLegacyProcess({
      flags: false,
      env: { LEGACY_HOST: '127.0.0.1', LEGACY_PORT: '0', LEGACY_KEYS: '5', LEGACY_TOKEN: 'tok' },
    });
    const opts = { url: legacy.url, pathTemplate: '/legacy/data/{key}', timeoutMs: 5_000, negativeTtlMs: 0 };
    const authed = new LegacyClient({ ...opts, token: 'tok' }, { log });
    const anonymous = new LegacyClient(opts, { log });
    try {
      const five = await authed.fetch('user:5');
      expect(five.found && five.value.toString()).toBe(
        '{"id":5,"name":"User 5","email":"user5@example.com"}',
      );
      expect(await authed.fetch('user:6')).toEqual({ found: false });
      await expect(anonymous.fetch('user:5')).rejects.toThrow(LegacyUnavailableError);
      await expect(anonymous.fetch('user:5')).rejects.toMatchObject({ failure: 'LEGACY_HTTP_401' });
      expect((await legacy.stats()).byKey).toEqual({ 'user:5': 3, 'user:6': 1 });
    } finally {
      await Promise.all([authed.close(), anonymous.close()]);
      expect(await legacy.stop()).toBe(0);
    }
  });

  it('applies --latency-ms and --failure-rate flags at start', async () => {
    const legacy = await startLegacyProcess({ failureRate: 1, latencyMs: 0 });
    const c = new LegacyClient(
      { url: legacy.url, pathTemplate: '/legacy/data/{key}', timeoutMs: 5_000, negativeTtlMs: 0 },
      { log },
    );
    try {
      await expect(c.fetch('user:1')).rejects.toMatchObject({ failure: 'LEGACY_HTTP_503' });
      expect(await legacy.setConfig({ failureRate: 0 })).toEqual({
        latencyMs: 0,
        failureRate: 0,
        hang: false,
      });
      expect((await c.fetch('user:1')).found).toBe(true);
    } finally {
      await c.close();
      expect(await legacy.stop()).toBe(0);
    }
  });

  it('exits 0 on SIGTERM while a request hangs', async () => {
    const legacy = await startLegacyProcess({});
    const c = new LegacyClient(
      { url: legacy.url, pathTemplate: '/legacy/data/{key}', timeoutMs: 30_000, negativeTtlMs: 0 },
      { log },
    );
    await legacy.setConfig({ hang: true });
    const pending = c.fetch('user:1').catch((err: unknown) => err);
    // The request is in the API before we stop it.
    for (let i = 0; i < 100 && (await legacy.stats()).requests === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await legacy.stats()).requests).toBe(1);
    expect(await legacy.stop()).toBe(0);
    expect(await pending).toMatchObject({ failure: 'LEGACY_UNREACHABLE' });
    await c.close();
  });

  it('refuses a bad setting with exit code 2 and a message naming it', async () => {
    await expect(startLegacyProcess({ failureRate: 3 })).rejects.toThrow(
      /code 2.*--failure-rate \(LEGACY_FAILURE_RATE\)/s,
    );
  });
});
