// Test certificates made with the system's openssl: a CA and a leaf
// certificate (for servers and, with mutual TLS, as client certificates)
// whose subjectAltNames cover the given IPs and names; further leaves of
// the same CA for rotations.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  readonly dir: string;
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
  read(file: string): Buffer;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

export interface LeafOptions {
  ips?: string[];
  names?: string[];
  cn?: string;
}

/** A new CA and one leaf certificate signed by it. */
export function makeCerts(opts: LeafOptions & { caCn?: string } = {}): CertFiles {
  const dir = mkdtempSync(join(tmpdir(), 'kvring-certs-'));
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${opts.caCn ?? 'kvring-test-ca'}`,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  return signLeaf(dir, opts);
}

/**
 * Another leaf signed by the CA of `ca` (a new key and serial number), in a
 * folder of its own that holds a copy of that CA's certificate and key: a
 * rotated pair from the same CA, or, from the result, further leaves.
 */
export function makeLeaf(ca: CertFiles, opts: LeafOptions = {}): CertFiles {
  const dir = mkdtempSync(join(tmpdir(), 'kvring-certs-'));
  copyFileSync(ca.caCert, join(dir, 'ca.crt'));
  copyFileSync(join(ca.dir, 'ca.key'), join(dir, 'ca.key'));
  return signLeaf(dir, opts);
}

function signLeaf(dir: string, opts: LeafOptions): CertFiles {
  const san = [
    ...(opts.ips ?? []).map((ip) => `IP:${ip}`),
    ...(opts.names ?? ['localhost']).map((n) => `DNS:${n}`),
  ];
  writeFileSync(
    join(dir, 'leaf.ext'),
    `subjectAltName=${san.join(',')}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\nauthorityKeyIdentifier=keyid\n`,
  );
  openssl(
    [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${opts.cn ?? 'kvring-node'}`,
      '-keyout',
      'tls.key',
      '-out',
      'tls.csr',
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'tls.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'leaf.ext',
      '-out',
      'tls.crt',
    ],
    dir,
  );
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    cert: join(dir, 'tls.crt'),
    key: join(dir, 'tls.key'),
    read: (file) => readFileSync(file),
  };
}
