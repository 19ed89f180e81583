// AdminService (Drain) as the peer port serves it. The peer port takes
// only callers the cluster trusts (mutual TLS with the cluster CA when TLS
// is on, and a network reachable only by members and the operator), so no
// holder of the client token can make a node hand its keys away.
import type { AdminServiceServer, DrainRequest, DrainResponse } from '../gen/kvring/v1/kvring.js';
import { unary, type UnaryContext } from './unary.js';

export function adminService(
  ctx: UnaryContext,
  drain: (req: DrainRequest) => Promise<DrainResponse>,
): AdminServiceServer {
  return { drain: unary(ctx, 'Drain', (req: DrainRequest) => drain(req)) };
}
