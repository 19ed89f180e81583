import { describe, expect, it } from '@jest/globals';
import { parseDemoLegacyArgs } from '../src/args.js';
import { DemoData, legacyValue, userValue } from '../src/data.js';
import { parseConfigPatch } from '../src/server.js';

describe('demo legacy settings', () => {
  it('has the documented defaults', () => {
    expect(parseDemoLegacyArgs([], {})).toEqual({
      host: '127.0.0.1',
      port: 8090,
      keys: 1000,
      latencyMs: 0,
      failureRate: 0,
      token: '',
      help: false,
    });
  });

  it('lets flags override LEGACY_* variables', () => {
    const a = parseDemoLegacyArgs(['--port', '0', '--latency-ms=25'], {
      LEGACY_PORT: '9000',
      LEGACY_KEYS: '5',
      LEGACY_LATENCY_MS: '1',
      LEGACY_FAILURE_RATE: '0.5',
    });
    expect([a.port, a.keys, a.latencyMs, a.failureRate]).toEqual([0, 5, 25, 0.5]);
  });

  it.each([
    [['--port', '70000'], /--port \(LEGACY_PORT\)/],
    [['--failure-rate', '2'], /--failure-rate \(LEGACY_FAILURE_RATE\)/],
    [['--keys', '1.5'], /--keys \(LEGACY_KEYS\): expected an integer/],
    [['--latency-ms', 'slow'], /--latency-ms/],
    [['--bogus'], /bogus/],
  ])('rejects %j naming the setting', (argv, message) => {
    expect(() => parseDemoLegacyArgs(argv, {})).toThrow(message);
  });
});

describe('demo legacy data set', () => {
  it('holds user:1..user:N and legacy:1..legacy:N, nothing else', () => {
    const data = new DemoData(3);
    expect(data.get('user:1')).toBe('{"id":1,"name":"User 1","email":"user1@example.com"}');
    expect(data.get('user:3')).toBe(userValue(3));
    expect(data.get('legacy:2')).toBe(legacyValue(2));
    expect(legacyValue(2)).toBe('legacy-value-2');
    for (const absent of ['user:0', 'user:4', 'user:01', 'legacy:', 'other:1', 'user:1 ']) {
      expect(data.get(absent)).toBeUndefined();
    }
    expect(data.size).toBe(6);
  });

  it('serves keys added at runtime, over seeded ones too', () => {
    const data = new DemoData(3);
    data.set('user:1', 'replaced');
    data.set('new key', { any: 'json' });
    expect(data.get('user:1')).toBe('replaced');
    expect(data.get('new key')).toEqual({ any: 'json' });
    expect(data.size).toBe(7);
  });
});

describe('demo legacy config patch', () => {
  it('accepts any subset of the three switches', () => {
    expect(parseConfigPatch({ hang: true })).toEqual({ hang: true });
    expect(parseConfigPatch({ latencyMs: 5, failureRate: 1 })).toEqual({ latencyMs: 5, failureRate: 1 });
  });

  it.each([[{ failureRate: 1.5 }], [{ latencyMs: -1 }], [{ hang: 'yes' }], [{ latency: 5 }], [[]], [null]])(
    'rejects %j',
    (patch) => {
      expect(() => parseConfigPatch(patch)).toThrow(RangeError);
    },
  );
});
