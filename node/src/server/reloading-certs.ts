// The node's certificate, key and CA bundle, reloaded when the mounted files
// change, offered to grpc-js through its certificate-provider interface
// (experimental.CertificateProvider): the servers built with
// createCertificateProviderServerCredentials call setSecureContext on each
// update, so new handshakes use the new pair while open connections keep
// theirs; the peer channel credentials build each new connection's context
// from the latest update.
//
// Not grpc-js's own FileWatcherCertificateProvider: it re-reads on a timer
// and hands listeners whatever it read, unchecked, and `null` when a read
// fails. A server given a key that does not match its certificate (or null)
// refuses every new connection until the next good read. Here a new set of
// files is checked first (tls-material.ts) and a bad one is refused: the
// node keeps the pair it has, logs the reason and counts it.
import { rootCertificates } from 'node:tls';
import { experimental } from '@grpc/grpc-js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
import { followFiles, type FileWatch, type ReloadOptions } from '../util/file-watch.js';
import { readTlsMaterial, sameMaterial, type TlsFiles, type TlsMaterial } from './tls-material.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export class ReloadingCertificates implements experimental.CertificateProvider {
  private current: TlsMaterial;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private watch: FileWatch | undefined;

  /** Reads the files once; throws TlsMaterialError when they cannot be used (the node does not start). */
  constructor(
    readonly files: TlsFiles,
    private readonly log: Logger,
    private readonly metrics: NodeMetrics,
  ) {
    this.current = readTlsMaterial(files);
    this.publish();
  }

  get serial(): string {
    return this.current.serial;
  }

  /** Starts following the files. */
  start(opts: ReloadOptions): void {
    const { certFile, keyFile, caFile } = this.files;
    const paths = [certFile, keyFile, ...(caFile ? [caFile] : [])];
    this.watch = followFiles('TLS files', paths, () => this.reload(), opts, this.log);
  }

  close(): void {
    this.watch?.close();
  }

  /** Reads the files again; switches to them if they changed and pass the checks. */
  reload(): void {
    let next: TlsMaterial;
    try {
      next = readTlsMaterial(this.files);
    } catch (err) {
      this.metrics.reloads.inc({ what: 'tls', result: 'rejected' });
      this.log.error(
        { err: (err as Error).message, keeping: this.current.serial },
        'new TLS files refused; the node keeps its current certificate',
      );
      return;
    }
    if (sameMaterial(next, this.current)) return;
    const previous = this.current.serial;
    this.current = next;
    this.publish();
    for (const l of this.identityListeners) l(this.identity());
    for (const l of this.caListeners) l(this.caUpdate());
    this.metrics.reloads.inc({ what: 'tls', result: 'applied' });
    this.log.info(
      { serial: next.serial, previous, notAfter: next.notAfter.toISOString() },
      'TLS certificate reloaded: new handshakes use it',
    );
  }

  private publish(): void {
    this.metrics.tlsNotAfter.set(this.current.notAfter.getTime() / 1000);
  }

  private identity(): experimental.IdentityCertificateUpdate {
    return { certificate: this.current.cert, privateKey: this.current.key };
  }

  /** Without a CA file, a peer channel trusts what grpc-js's createSsl(null) trusts: Node's root store. */
  private caUpdate(): experimental.CaCertificateUpdate {
    return { caCertificate: this.current.ca ?? Buffer.from(rootCertificates.join('\n')) };
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    // On the next tick, as grpc-js's own providers do: a server adds its
    // watcher only after it registered this listener, and would miss a
    // synchronous first update (and refuse connections until the next).
    process.nextTick(() => {
      if (this.caListeners.has(listener)) listener(this.caUpdate());
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    process.nextTick(() => {
      if (this.identityListeners.has(listener)) listener(this.identity());
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}
