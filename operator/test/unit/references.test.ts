import { describe, expect, it } from '@jest/globals';
import type { V1Secret } from '@kubernetes/client-node';
import { withDefaults, type KVClusterSpec } from '../../src/api/types.js';
import { checkSecrets, referencedSecretNames } from '../../src/reconcile/references.js';
import { checkSpec, parseQuantity } from '../../src/reconcile/spec-check.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function secret(name: string, data: Record<string, string>, rv = '1'): V1Secret {
  return {
    metadata: { name, resourceVersion: rv },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

const base: KVClusterSpec = { postgres: { host: 'pg', credentialsSecret: { name: 'pg-creds' } } };

describe('Secret references', () => {
  it('names the missing Secret, the field that refers to it, and the command that creates it', () => {
    const r = checkSecrets(withDefaults(base), 'shop', new Map([['pg-creds', undefined]]));
    expect(r.problem).toEqual({
      reason: 'SecretNotFound',
      message:
        'Secret "pg-creds" (spec.postgres.credentialsSecret) was not found in namespace "shop". Create it with the ' +
        'key(s) username, password, e.g. kubectl -n shop create secret generic pg-creds ' +
        '--from-literal=username=... --from-literal=password=...',
    });
  });

  it('names a missing key and the keys that are there', () => {
    const r = checkSecrets(
      withDefaults(base),
      'shop',
      new Map([['pg-creds', secret('pg-creds', { username: 'u', pass: 'x' })]]),
    );
    expect(r.problem).toMatchObject({ reason: 'SecretKeyMissing' });
    expect(r.problem!.message).toContain('has no key password (it has: username, pass)');
  });

  it('a rotated Secret changes the hash that rolls the pods', () => {
    const spec = withDefaults(base);
    const a = checkSecrets(
      spec,
      'shop',
      new Map([['pg-creds', secret('pg-creds', { username: 'u', password: 'p' }, '1')]]),
    );
    const b = checkSecrets(
      spec,
      'shop',
      new Map([['pg-creds', secret('pg-creds', { username: 'u', password: 'q' }, '2')]]),
    );
    expect(a.problem).toBeUndefined();
    expect(a.secretsHash).not.toBe(b.secretsHash);
  });

  it('a new TLS or token Secret does not change that hash (the nodes reload those files)', () => {
    const spec = withDefaults({
      ...base,
      tls: { secretName: 'tls' },
      auth: { tokenSecret: { name: 'auth' } },
    });
    const at = (v: string): string =>
      checkSecrets(
        spec,
        'shop',
        new Map([
          ['pg-creds', secret('pg-creds', { username: 'u', password: 'p' }, '1')],
          ['tls', secret('tls', { 'tls.crt': `C${v}`, 'tls.key': `K${v}`, 'ca.crt': 'CA' }, v)],
          ['auth', secret('auth', { token: `T${v}` }, v)],
        ]),
      ).secretsHash;
    expect(at('2')).toBe(at('1'));
  });

  it('the operator sends the first token of a key that lists several (a rotation in progress)', () => {
    const spec = withDefaults({ ...base, auth: { tokenSecret: { name: 'auth' } } });
    const r = checkSecrets(
      spec,
      'shop',
      new Map([
        ['pg-creds', secret('pg-creds', { username: 'u', password: 'p' })],
        ['auth', secret('auth', { token: '# rotating\nold-token\nnew-token\n' })],
      ]),
    );
    expect(r.security.token).toBe('old-token');
  });

  it('hands the operator the token, the CA and the pair it presents on the peer port (Drain)', () => {
    const spec = withDefaults({
      ...base,
      tls: { secretName: 'tls' },
      auth: { tokenSecret: { name: 'auth' } },
    });
    const r = checkSecrets(
      spec,
      'shop',
      new Map([
        ['pg-creds', secret('pg-creds', { username: 'u', password: 'p' })],
        ['tls', secret('tls', { 'tls.crt': 'C', 'tls.key': 'K', 'ca.crt': 'CA' })],
        ['auth', secret('auth', { token: 'T' })],
      ]),
    );
    expect(r.problem).toBeUndefined();
    expect(r.tlsHasCa).toBe(true);
    expect(r.security).toEqual({
      token: 'T',
      tls: { caPem: 'CA', peerPair: { certPem: 'C', keyPem: 'K' } },
    });
    expect([...referencedSecretNames(spec)].sort()).toEqual(['auth', 'pg-creds', 'tls']);
  });
});

describe('spec checks beyond the CRD', () => {
  it('parses Kubernetes quantities', () => {
    expect(parseQuantity('512Mi')).toBe(512 * 2 ** 20);
    expect(parseQuantity('1G')).toBe(1e9);
    expect(parseQuantity('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(parseQuantity(1073741824)).toBe(2 ** 30);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity('lots')).toBeUndefined();
  });

  it('refuses a cache budget at or above the memory limit', () => {
    const bad = checkSpec(
      withDefaults({ ...base, cache: { maxMemory: '1Gi' }, resources: { limits: { memory: '1Gi' } } }),
    );
    expect(bad).toMatchObject({ reason: 'InvalidSpec' });
    expect(bad!.message).toContain('cache.maxMemory (1Gi) must be below resources.limits.memory (1Gi)');
    expect(
      checkSpec(
        withDefaults({ ...base, cache: { maxMemory: '768Mi' }, resources: { limits: { memory: '1Gi' } } }),
      ),
    ).toBeUndefined();
    expect(checkSpec(withDefaults(base))).toBeUndefined();
  });
});
