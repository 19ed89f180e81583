// What a node checks before it switches to rotated files: a certificate
// pair that matches and that the CA bundle vouches for, and a token file
// with at least one well-formed token. Each refusal names the file.
import { describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCerts, makeLeaf } from '@kvring/test-support/certs';
import { readTlsMaterial } from '../../src/server/tls-material.js';
import { parseTokens } from '../../src/server/tokens.js';

describe('readTlsMaterial', () => {
  const a = makeCerts({ caCn: 'check-ca-a' });
  const a2 = makeLeaf(a);
  const b = makeCerts({ caCn: 'check-ca-b' });
  const bundle = join(b.dir, 'bundle.crt');
  writeFileSync(bundle, Buffer.concat([a.read(a.caCert), b.read(b.caCert)]));

  it('takes a matching pair signed by a CA of the bundle (either CA of a two-CA bundle)', () => {
    const m = readTlsMaterial({ certFile: a.cert, keyFile: a.key, caFile: a.caCert });
    expect(m.serial).toMatch(/^[0-9A-F]+$/);
    expect(readTlsMaterial({ certFile: a2.cert, keyFile: a2.key, caFile: bundle }).serial).not.toBe(m.serial);
    expect(readTlsMaterial({ certFile: b.cert, keyFile: b.key, caFile: bundle }).ca).toBeDefined();
    expect(readTlsMaterial({ certFile: b.cert, keyFile: b.key, caFile: '' }).ca).toBeUndefined();
  });

  it('refuses a key of another certificate, naming the key file', () => {
    expect(() => readTlsMaterial({ certFile: a.cert, keyFile: a2.key, caFile: a.caCert })).toThrow(
      `${a2.key}: does not match the certificate in ${a.cert}`,
    );
  });

  it('refuses a certificate no CA of the bundle signed', () => {
    expect(() => readTlsMaterial({ certFile: b.cert, keyFile: b.key, caFile: a.caCert })).toThrow(
      /no CA in .* signed this certificate \(issuer CN=check-ca-b\)/,
    );
  });

  it('refuses an expired certificate', () => {
    const later = new Date(Date.now() + 3 * 24 * 3600_000);
    expect(() => readTlsMaterial({ certFile: a.cert, keyFile: a.key, caFile: a.caCert }, later)).toThrow(
      /certificate expired at/,
    );
  });

  it('refuses a file without a certificate, an unreadable one, and a key that does not parse', () => {
    const junk = join(a.dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate\n');
    expect(() => readTlsMaterial({ certFile: junk, keyFile: a.key, caFile: '' })).toThrow(
      `${junk}: no PEM certificate in the file`,
    );
    expect(() => readTlsMaterial({ certFile: join(a.dir, 'absent'), keyFile: a.key, caFile: '' })).toThrow(
      /absent: cannot read: ENOENT/,
    );
    expect(() => readTlsMaterial({ certFile: a.cert, keyFile: junk, caFile: '' })).toThrow(
      /junk.pem: private key does not parse/,
    );
  });
});

describe('parseTokens', () => {
  it('takes one token per line, skipping blank lines and comments', () => {
    expect(parseTokens('# old, until Friday\nold-token\n\n  new-token  \n', 'f')).toEqual([
      'old-token',
      'new-token',
    ]);
  });

  it('refuses a file without tokens, and a token with a space, naming the line', () => {
    expect(() => parseTokens('\n# none\n', '/etc/t')).toThrow('/etc/t: no token (one per line)');
    expect(() => parseTokens('ok\nnot ok\n', '/etc/t')).toThrow(/\/etc\/t line 2: a token is 1 to 4096/);
  });
});
