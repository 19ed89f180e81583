// The answer to a peer's Hot request (peer.proto): the keys this node used
// most recently among those the asking member replicates in this node's
// view, most recent first. Keys and versions only: the asking member reads
// the rows from PostgreSQL (warmup.ts), so a stale copy here never becomes
// its value.
import type { Ring } from '@kvring/client/ring';
import type { HotKey, HotRequest, HotResponse } from '../gen/kvring/v1/peer.js';
import type { MemoryStore } from '../store/memory-store.js';

/**
 * Entries looked at per request at most, whatever the asking member
 * replicates: the walk is synchronous, and a big store must not stall this
 * node's event loop (about 200k ring lookups take tens of milliseconds).
 */
export const MAX_SCAN = 200_000;

export function hotKeys(
  self: string,
  store: MemoryStore,
  ring: Ring,
  n: number,
  req: HotRequest,
): HotResponse {
  const keys: HotKey[] = [];
  let bytes = 0;
  let scanned = 0;
  for (const s of store.hottest()) {
    if (keys.length >= req.maxKeys || bytes >= req.maxBytes || ++scanned > MAX_SCAN) break;
    if (!ring.isReplica(s.key, req.member, n)) continue;
    const valueBytes = s.value?.length ?? 0;
    keys.push({ key: s.key, version: s.version, valueBytes, tombstone: s.tombstone });
    bytes += Buffer.byteLength(s.key) + valueBytes;
  }
  return { member: self, keys };
}
