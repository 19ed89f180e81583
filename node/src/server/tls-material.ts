// A certificate, its key and the CA bundle, read from files and checked
// before a server or a peer channel may use them. A rotation that lands a
// bad pair (a key that does not match, an expired or unparsable
// certificate, a leaf no CA of the bundle signed) must be refused here, not
// discovered by the next handshake: grpc-js drops every new connection while
// its credentials are invalid.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** Empty: no CA (peers encrypted, not authenticated). */
  readonly caFile: string;
}

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
  /** The leaf's serial number (hex, as openssl prints it). */
  readonly serial: string;
  readonly notAfter: Date;
}

/** Why a set of files cannot be used; `file` names the one at fault. */
export class TlsMaterialError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'TlsMaterialError';
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function certificates(pem: Buffer, file: string): X509Certificate[] {
  const blocks = pem.toString('utf8').match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new TlsMaterialError(file, 'no PEM certificate in the file');
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new TlsMaterialError(file, `certificate ${i + 1} does not parse: ${(err as Error).message}`);
    }
  });
}

function readOne(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TlsMaterialError(file, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Reads and checks the files; throws TlsMaterialError naming the file and the reason. */
export function readTlsMaterial(files: TlsFiles, now: Date = new Date()): TlsMaterial {
  const cert = readOne(files.certFile);
  const key = readOne(files.keyFile);
  const ca = files.caFile ? readOne(files.caFile) : undefined;
  const chain = certificates(cert, files.certFile);
  const leaf = chain[0]!;
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsMaterialError(files.keyFile, `private key does not parse: ${(err as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey))
    throw new TlsMaterialError(files.keyFile, `does not match the certificate in ${files.certFile}`);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime())
    throw new TlsMaterialError(files.certFile, `certificate expired at ${notAfter.toISOString()}`);
  if (ca) {
    const roots = certificates(ca, files.caFile);
    // The chain's last certificate must be a CA of the bundle or signed by
    // one: otherwise members verifying with this bundle would refuse it.
    const top = chain[chain.length - 1]!;
    const anchored = roots.some(
      (r) => r.fingerprint256 === top.fingerprint256 || (top.checkIssued(r) && top.verify(r.publicKey)),
    );
    if (!anchored)
      throw new TlsMaterialError(
        files.certFile,
        `no CA in ${files.caFile} signed this certificate (issuer ${top.issuer.replace(/\n/g, ', ')})`,
      );
  }
  try {
    createSecureContext({ cert, key, ...(ca && { ca }) });
  } catch (err) {
    throw new TlsMaterialError(files.certFile, `TLS refuses the pair: ${(err as Error).message}`);
  }
  return { cert, key, ca, serial: leaf.serialNumber, notAfter };
}

export function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  const eq = (x: Buffer | undefined, y: Buffer | undefined): boolean =>
    x === undefined || y === undefined ? x === y : x.equals(y);
  return a.cert.equals(b.cert) && a.key.equals(b.key) && eq(a.ca, b.ca);
}
