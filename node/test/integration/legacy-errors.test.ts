// How LegacyClient reports an API that misbehaves in ways the demo API does
// not: a real HTTP server on loopback that answers garbage, and a port where
// nothing listens.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { pino } from 'pino';
import { LegacyClient } from '../../src/legacy/client.js';
import { LegacyUnavailableError } from '../../src/legacy/errors.js';

const log = pino({ level: 'silent' });
const seenAuth: Array<string | undefined> = [];
let server: http.Server;
let url: string;

const ANSWERS: Record<string, [number, string]> = {
  '/legacy/data/not-json': [200, 'this is not json'],
  '/legacy/data/no-value': [200, '{"key":"no-value"}'],
  '/legacy/data/array': [200, '[1,2,3]'],
  '/legacy/data/huge': [200, `{"value":"${'x'.repeat(4096)}"}`],
  '/legacy/data/teapot': [418, '{"error":"teapot"}'],
  '/legacy/data/denied': [401, '{"error":"unauthorized"}'],
  '/legacy/data/ok': [200, '{"key":"ok","value":"fine"}'],
};

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (err) {
    return err instanceof LegacyUnavailableError ? err.failure : `other error: ${String(err)}`;
  }
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seenAuth.push(req.headers.authorization);
    const [status, body] = ANSWERS[req.url ?? ''] ?? [404, '{"error":"not found"}'];
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('LegacyClient failure codes', () => {
  it('classifies bad bodies and unexpected statuses, and counts them toward the breaker', async () => {
    const c = new LegacyClient(
      {
        url,
        pathTemplate: '/legacy/data/{key}',
        timeoutMs: 5_000,
        negativeTtlMs: 0,
        maxBodyBytes: 1024,
        breaker: { failureThreshold: 6, openMs: 60_000 },
      },
      { log },
    );
    try {
      expect(await codeOf(c.fetch('not-json'))).toBe('LEGACY_BAD_RESPONSE');
      expect(await codeOf(c.fetch('no-value'))).toBe('LEGACY_BAD_RESPONSE');
      expect(await codeOf(c.fetch('array'))).toBe('LEGACY_BAD_RESPONSE');
      expect(await codeOf(c.fetch('huge'))).toBe('LEGACY_BAD_RESPONSE');
      expect(await codeOf(c.fetch('teapot'))).toBe('LEGACY_HTTP_418');
      expect(c.breakerState).toBe('closed');
      expect(await codeOf(c.fetch('denied'))).toBe('LEGACY_HTTP_401');
      expect(c.breakerState).toBe('open');
      expect(await codeOf(c.fetch('ok'))).toBe('LEGACY_BREAKER_OPEN');
    } finally {
      await c.close();
    }
  });

  it('sends the bearer token when one is set, and none otherwise', async () => {
    seenAuth.length = 0;
    const withToken = new LegacyClient(
      { url, pathTemplate: '/legacy/data/{key}', timeoutMs: 5_000, negativeTtlMs: 0, token: 's3cret' },
      { log },
    );
    const without = new LegacyClient(
      { url, pathTemplate: '/legacy/data/{key}', timeoutMs: 5_000, negativeTtlMs: 0 },
      { log },
    );
    try {
      const found = await withToken.fetch('ok');
      expect(found.found && found.value.toString()).toBe('fine');
      await without.fetch('ok');
      expect(seenAuth).toEqual(['Bearer s3cret', undefined]);
    } finally {
      await Promise.all([withToken.close(), without.close()]);
    }
  });

  it('reports LEGACY_UNREACHABLE when nothing listens', async () => {
    // A port that was just free: bind it, note it, release it.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const c = new LegacyClient(
      {
        url: `http://127.0.0.1:${port}`,
        pathTemplate: '/legacy/data/{key}',
        timeoutMs: 5_000,
        negativeTtlMs: 0,
      },
      { log },
    );
    try {
      expect(await codeOf(c.fetch('user:1'))).toBe('LEGACY_UNREACHABLE');
      expect(c.reachable).toBe(false);
      expect(c.breakerState).toBe('closed');
    } finally {
      await c.close();
    }
  });

  it('refuses a configuration it cannot use', () => {
    const base = { url, pathTemplate: '/legacy/data/{key}', timeoutMs: 1_000, negativeTtlMs: 0 };
    expect(() => new LegacyClient({ ...base, url: 'ftp://x' }, { log })).toThrow(/http or https/);
    expect(() => new LegacyClient({ ...base, pathTemplate: '/legacy/data' }, { log })).toThrow(/\{key\}/);
    expect(() => new LegacyClient({ ...base, pathTemplate: '/{key}/{key}' }, { log })).toThrow(/\{key\}/);
    expect(() => new LegacyClient({ ...base, timeoutMs: 0 }, { log })).toThrow(/timeoutMs/);
  });
});
