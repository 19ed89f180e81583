// KVClusters for the unit tests, as the API server would return them
// (defaults applied by withDefaults in the builders anyway).
import type { KVCluster, KVClusterSpec } from '../../src/api/types.js';

export function cluster(spec: Partial<KVClusterSpec> = {}, name = 'demo', namespace = 'shop'): KVCluster {
  return {
    apiVersion: 'kvring.dev/v1alpha1',
    kind: 'KVCluster',
    metadata: { name, namespace, uid: 'uid-1234', generation: 1 },
    spec: {
      postgres: { host: 'pg.db.svc', credentialsSecret: { name: 'pg-creds' } },
      ...spec,
    },
  };
}
