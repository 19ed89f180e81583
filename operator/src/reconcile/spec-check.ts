// Checks of the spec that the CRD cannot express within the API server's
// CEL cost budget: comparing the cache budget with the container's memory
// limit needs Kubernetes quantities on int-or-string map values. A failed
// check is reported like a missing Secret: Degraded, with what to change.
import type { ResolvedSpec } from '../api/types.js';
import type { Problem } from './status.js';

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A Kubernetes quantity ("512Mi", "1G", "1.5", 1073741824) in base units; undefined when malformed. */
export function parseQuantity(q: string | number): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/.exec(q.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const suffix = m[2] ?? '';
  if (suffix in BINARY) return n * BINARY[suffix]!;
  if (suffix in DECIMAL) return n * DECIMAL[suffix]!;
  return Number(`${m[1]}${suffix}`);
}

export function checkSpec(spec: ResolvedSpec): Problem | undefined {
  const limit = spec.resources.limits?.memory;
  if (limit !== undefined) {
    const budget = parseQuantity(spec.cache.maxMemory);
    const bytes = parseQuantity(limit);
    if (budget !== undefined && bytes !== undefined && budget >= bytes)
      return {
        reason: 'InvalidSpec',
        message:
          `cache.maxMemory (${spec.cache.maxMemory}) must be below resources.limits.memory (${limit}): the node ` +
          'needs memory beyond its cache budget for its runtime and connections, or the kernel kills it (OOMKilled). ' +
          'Raise the limit or lower cache.maxMemory (e.g. to 60-75% of the limit)',
      };
  }
  return undefined;
}
