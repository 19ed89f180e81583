// Transport security from files (the operator mounts them from the Secret
// named in the spec): TLS on the client port, mutual TLS on the peer port
// (only holders of a certificate signed by the cluster CA can replicate),
// and an optional bearer token on the client port. Plaintext stays possible
// for local development, with a warning.
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  ChannelCredentials,
  ServerCredentials,
  credentials as grpcCredentials,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import type { NodeConfig } from '../config/config.js';
import { ConfigError } from '../config/settings.js';
import { UnauthenticatedError } from '../errors.js';
import type { Logger } from '../log.js';

export interface Security {
  readonly clientServer: ServerCredentials;
  readonly peerServer: ServerCredentials;
  readonly peerClient: ChannelCredentials;
  readonly authorize:
    | ((call: Pick<ServerUnaryCall<unknown, unknown>, 'metadata'>) => UnauthenticatedError | undefined)
    | undefined;
}

function read(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${setting}: cannot read ${path}: ${(err as Error).message}`);
  }
}

export function loadSecurity(cfg: NodeConfig, log: Logger): Security {
  let clientServer = ServerCredentials.createInsecure();
  let peerServer = ServerCredentials.createInsecure();
  let peerClient = grpcCredentials.createInsecure();
  if (cfg.tlsCertFile) {
    const pair = {
      cert_chain: read(cfg.tlsCertFile, 'KVRING_TLS_CERT_FILE'),
      private_key: read(cfg.tlsKeyFile, 'KVRING_TLS_KEY_FILE'),
    };
    const ca = cfg.tlsCaFile ? read(cfg.tlsCaFile, 'KVRING_TLS_CA_FILE') : null;
    clientServer = ServerCredentials.createSsl(ca, [pair], false);
    // Mutual TLS between members: a peer must present a certificate the CA signed.
    peerServer = ServerCredentials.createSsl(ca, [pair], ca !== null);
    // Members are reached by pod IP or name; their identity is "signed by the
    // cluster CA", so the host name in the certificate is not compared.
    peerClient = grpcCredentials.createSsl(ca, pair.private_key, pair.cert_chain, {
      checkServerIdentity: () => undefined,
    });
    if (ca === null)
      log.warn('KVRING_TLS_CA_FILE is not set: peers are encrypted but not authenticated (no mutual TLS)');
  } else {
    log.warn(
      'TLS is off (KVRING_TLS_CERT_FILE unset): client and peer traffic is plaintext; use only for local development',
    );
  }
  return {
    clientServer,
    peerServer,
    peerClient,
    authorize: cfg.authToken ? bearer(cfg.authToken) : undefined,
  };
}

function bearer(token: string): Security['authorize'] {
  const expected = Buffer.from(`Bearer ${token}`);
  return (call) => {
    const got = call.metadata.get('authorization')[0];
    const given = Buffer.from(typeof got === 'string' ? got : '');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return undefined;
    return new UnauthenticatedError(
      given.length === 0 ? 'missing authorization: send "authorization: Bearer <token>"' : 'invalid token',
    );
  };
}
