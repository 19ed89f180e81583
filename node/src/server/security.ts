// Transport security from files (the operator mounts them from the Secret
// named in the spec): TLS on the client port, mutual TLS on the peer port
// (only holders of a certificate signed by the cluster CA can replicate),
// and bearer tokens on the client port. The files are followed while the
// node runs (reloading-certs.ts, tokens.ts): a rotated Secret takes effect
// for new handshakes and calls without a restart. Plaintext stays possible
// for local development, with a warning.
import {
  ChannelCredentials,
  ServerCredentials,
  credentials as grpcCredentials,
  experimental,
} from '@grpc/grpc-js';
import type { NodeConfig } from '../config/config.js';
import { ConfigError } from '../config/settings.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
import { ReloadingCertificates } from './reloading-certs.js';
import { TlsMaterialError } from './tls-material.js';
import { AcceptedTokens, type Authorize } from './tokens.js';

export interface Security {
  readonly clientServer: ServerCredentials;
  readonly peerServer: ServerCredentials;
  readonly peerClient: ChannelCredentials;
  readonly authorize: Authorize | undefined;
  /** The certificate in use (undefined without TLS). */
  readonly certificates: ReloadingCertificates | undefined;
  /** Starts following the files. */
  start(): void;
  close(): void;
}

/** Coalesces the burst of events one Secret update makes (kubelet's atomic writer: a few renames within milliseconds). */
const DEBOUNCE_MS = 100;

/**
 * Server credentials whose pair (and CA) follow `certs`.
 *
 * grpc-js 1.14's createCertificateProviderServerCredentials declares its
 * parameters as (ca, identity) but constructs (identity, ca). The peer
 * port passes the same provider in both places, so either order holds;
 * the client port passes (certs, null): its identity, no CA, as that
 * implementation reads it (rotation.test.ts and security.test.ts fail if that changes).
 */
function serverCredentials(certs: ReloadingCertificates, mutual: boolean): ServerCredentials {
  return mutual
    ? experimental.createCertificateProviderServerCredentials(certs, certs, true)
    : experimental.createCertificateProviderServerCredentials(certs, null, false);
}

export function loadSecurity(cfg: NodeConfig, log: Logger, metrics: NodeMetrics): Security {
  let clientServer = ServerCredentials.createInsecure();
  let peerServer = ServerCredentials.createInsecure();
  let peerClient = grpcCredentials.createInsecure();
  let certs: ReloadingCertificates | undefined;
  if (cfg.tlsCertFile) {
    try {
      certs = new ReloadingCertificates(
        { certFile: cfg.tlsCertFile, keyFile: cfg.tlsKeyFile, caFile: cfg.tlsCaFile },
        log.child({ component: 'tls' }),
        metrics,
      );
    } catch (err) {
      if (err instanceof TlsMaterialError)
        throw new ConfigError(`KVRING_TLS_CERT_FILE/KEY_FILE/CA_FILE: ${err.message}`);
      throw err;
    }
    const mutual = Boolean(cfg.tlsCaFile);
    clientServer = serverCredentials(certs, false);
    // Mutual TLS between members: a peer must present a certificate the CA signed.
    peerServer = serverCredentials(certs, mutual);
    // Members are reached by pod IP or name; their identity is "signed by the
    // cluster CA", so the host name in the certificate is not compared.
    peerClient = experimental.createCertificateProviderChannelCredentials(certs, certs, {
      checkServerIdentity: () => undefined,
    });
    if (!mutual)
      log.warn('KVRING_TLS_CA_FILE is not set: peers are encrypted but not authenticated (no mutual TLS)');
  } else {
    log.warn(
      'TLS is off (KVRING_TLS_CERT_FILE unset): client and peer traffic is plaintext; use only for local development',
    );
  }
  let tokens: AcceptedTokens | undefined;
  if (cfg.authToken || cfg.authTokenFile) {
    try {
      tokens = new AcceptedTokens(
        cfg.authToken,
        cfg.authTokenFile,
        log.child({ component: 'auth' }),
        metrics,
      );
    } catch (err) {
      throw new ConfigError(`KVRING_AUTH_TOKEN_FILE: ${(err as Error).message}`);
    }
  }
  const reload = { debounceMs: DEBOUNCE_MS, recheckMs: cfg.fileRecheckIntervalMs };
  return {
    clientServer,
    peerServer,
    peerClient,
    authorize: tokens?.authorize,
    certificates: certs,
    start() {
      certs?.start(reload);
      tokens?.start(reload);
    },
    close() {
      certs?.close();
      tokens?.close();
    },
  };
}
