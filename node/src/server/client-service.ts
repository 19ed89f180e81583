// The client API (kvring.v1.KVService) and the prototype's
// cache.CacheService: thin layers that validate batch shapes, call the
// coordinator and shape answers. Key and value limits are the
// coordinator's, so every entry point enforces them the same way.
// AdminService is not served here (admin-service.ts, peer port); a Drain
// sent here is refused with a message that says where it lives.
import type {
  CacheServiceServer,
  GetRequest as CacheGet,
  SetRequest as CacheSet,
} from '../gen/cache/cache.js';
import type {
  AdminServiceServer,
  ClusterInfoResponse,
  DeleteRequest,
  GetRequest,
  KVServiceServer,
  MGetRequest,
  MSetRequest,
  SetRequest,
} from '../gen/kvring/v1/kvring.js';
import type { Coordinator } from '../cluster/coordinator.js';
import { AdminNotOnClientPortError } from '../errors.js';
import { checkBatch, type Limits } from '../limits.js';
import { toWireError } from './status-details.js';
import { pipelineHandler, type PipelineLimits } from './pipeline.js';
import { unary, type UnaryContext } from './unary.js';
import { getResponseOf } from './wire.js';

export interface ClientServiceDeps {
  readonly coordinator: Coordinator;
  readonly limits: Limits & PipelineLimits;
  /** Aborted when the node stops: open Pipeline streams finish their operations and close. */
  readonly stopping?: AbortSignal;
  clusterInfo(): ClusterInfoResponse;
}

export function kvService(ctx: UnaryContext, deps: ClientServiceDeps): KVServiceServer {
  const { coordinator: c, limits } = deps;
  return {
    get: unary(ctx, 'Get', async (req: GetRequest) => getResponseOf(await c.get(req.key))),
    set: unary(ctx, 'Set', async (req: SetRequest) => ({
      version: await c.set(req.key, req.value, req.ttlMs, {
        expectedVersion: req.expectedVersion,
        idempotencyKey: req.idempotencyKey,
      }),
    })),
    delete: unary(ctx, 'Delete', async (req: DeleteRequest) => ({
      version: await c.delete(req.key, { expectedVersion: req.expectedVersion }),
    })),
    mGet: unary(ctx, 'MGet', async (req: MGetRequest) => {
      checkBatch(limits, req.keys.length, 'keys');
      const results = await Promise.all(req.keys.map((k) => c.get(k)));
      return {
        items: results.map((r, i) => ({
          key: req.keys[i]!,
          found: r.found,
          value: r.value,
          version: r.version,
        })),
      };
    }),
    mSet: unary(ctx, 'MSet', async (req: MSetRequest) => {
      checkBatch(limits, req.entries.length, 'entries');
      // Entries are independent; each reports its own outcome.
      const settled = await Promise.allSettled(req.entries.map((e) => c.set(e.key, e.value, e.ttlMs)));
      return {
        results: settled.map((s, i) => {
          const key = req.entries[i]!.key;
          if (s.status === 'fulfilled') return { key, version: s.value, code: 0, message: '', reason: '' };
          const wire = toWireError(s.reason);
          return { key, version: 0, code: wire.code, message: wire.details, reason: wire.reason };
        }),
      };
    }),
    clusterInfo: unary(ctx, 'ClusterInfo', () => Promise.resolve(deps.clusterInfo())),
    pipeline: pipelineHandler(ctx, { coordinator: c, limits, stopping: deps.stopping }),
  };
}

/** AdminService as the client port answers it: refused, so no client token can drain a node. */
export function refusedAdminService(ctx: UnaryContext): AdminServiceServer {
  return {
    drain: unary(ctx, 'Drain', () =>
      Promise.reject(
        new AdminNotOnClientPortError(
          'AdminService is not served on the client port: call Drain on the peer port ' +
            '(KVRING_PEER_PORT, mutual TLS with a certificate the cluster CA signed)',
        ),
      ),
    ),
  };
}

/** The prototype's API: same coordinator, so same replication, persistence and read-through. */
export function cacheService(ctx: UnaryContext, deps: ClientServiceDeps): CacheServiceServer {
  const { coordinator: c } = deps;
  return {
    set: unary(ctx, 'cache.Set', async (req: CacheSet) => {
      await c.set(req.key, req.value, 0);
      return { success: true };
    }),
    get: unary(ctx, 'cache.Get', async (req: CacheGet) => {
      const r = await c.get(req.key);
      return { value: r.value, found: r.found };
    }),
  };
}
