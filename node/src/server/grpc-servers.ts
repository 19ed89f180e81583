// The two gRPC servers of a node. The client port serves kvring.v1's
// KVService, the prototype's cache.CacheService, health and reflection; the
// peer port serves the replication service, AdminService (the operator's
// Drain) and health, so no client-port call can ever reach a peer or
// administrative method.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { CacheServiceService } from '../gen/cache/cache.js';
import { AdminServiceService, type DrainRequest, type DrainResponse } from '../gen/kvring/v1/kvring.js';
import { PeerServiceService, type PeerServiceServer } from '../gen/kvring/v1/peer.js';
import { adminService } from './admin-service.js';
import { cacheService, kvService, refusedAdminService, type ClientServiceDeps } from './client-service.js';
import { kvServiceDefinition } from './pipeline.js';
import type { UnaryContext } from './unary.js';

const SERVER_OPTIONS = {
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  // Bounds what one misbehaving client can hold open.
  'grpc.max_concurrent_streams': 1000,
  // channelz (grpc-js's per-call introspection registry) is not served here,
  // and its bookkeeping on every call cost ~2% of a node's CPU under
  // `make bench` (--profile); the reference server drops it too.
  'grpc.enable_channelz': 0,
};

/** The proto directory (the repository's, or the image's /app/proto), found from this file whether it runs from src/ or dist/. */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'kvring', 'v1', 'kvring.proto'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('proto/ not found next to the program (reflection needs the .proto files)');
}

/** The reflection service's own .proto files, shipped in @grpc/reflection. */
function reflectionProtoDir(): string {
  const pkgJson = createRequire(import.meta.url).resolve('@grpc/reflection/package.json');
  return join(dirname(pkgJson), 'build', 'proto');
}

export function clientServer(
  ctx: UnaryContext,
  deps: ClientServiceDeps,
  health: HealthImplementation,
): Server {
  const server = new Server(SERVER_OPTIONS);
  server.addService(kvServiceDefinition, kvService(ctx, deps));
  server.addService(AdminServiceService, refusedAdminService(ctx));
  server.addService(CacheServiceService, cacheService(ctx, deps));
  health.addToServer(server);
  // Reflection describes everything this port serves, health and
  // reflection included, so grpcurl can list and call all of it.
  const pkg = protoLoader.loadSync(
    [
      'kvring/v1/kvring.proto',
      'cache/cache.proto',
      'grpc/health/v1/health.proto',
      'grpc/reflection/v1/reflection.proto',
      'grpc/reflection/v1alpha/reflection.proto',
    ],
    { includeDirs: [protoDir(), reflectionProtoDir()] },
  );
  new ReflectionService(pkg).addToServer(server);
  return server;
}

export function peerServer(impl: PeerServiceServer, health: HealthImplementation): Server {
  const server = new Server(SERVER_OPTIONS);
  server.addService(PeerServiceService, impl);
  health.addToServer(server);
  return server;
}

/**
 * Adds AdminService to the peer server. It runs once the node can drain
 * (after the peer port opened: peers must reach it while the node starts);
 * grpc-js looks handlers up per call, so a service can be added then.
 */
export function serveAdmin(
  peer: Server,
  ctx: UnaryContext,
  drain: (req: DrainRequest) => Promise<DrainResponse>,
): void {
  peer.addService(AdminServiceService, adminService(ctx, drain));
}

export function bind(server: Server, address: string, creds: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port)));
  });
}
