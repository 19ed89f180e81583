// The two Services of a cluster:
// - `<name>-peers`, headless, publishing not-ready pods too: the nodes find
//   each other through its DNS (SRV _peer._tcp, or A records per pod), and
//   a pod that is briefly down stays a member instead of changing the ring;
// - `<name>`, the ClusterIP Service clients connect to (ready pods only).
import type { V1Service } from '@kubernetes/client-node';
import type { KVCluster, ResolvedSpec } from '../api/types.js';
import { PORTS, SERVICE_ROLE_LABEL, commonLabels, namesOf, ownerReference, selectorLabels } from './names.js';

export function buildPeerService(cluster: KVCluster, spec: ResolvedSpec): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: namesOf(cluster.metadata.name).peerService,
      namespace: cluster.metadata.namespace,
      labels: { ...commonLabels(cluster, spec.image), [SERVICE_ROLE_LABEL]: 'peers' },
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels(cluster.metadata.name),
      ports: [
        // The name is the SRV record the nodes query: _peer._tcp.<service>.
        { name: 'peer', port: PORTS.peer, targetPort: 'peer', protocol: 'TCP', appProtocol: 'grpc' },
        { name: 'client', port: PORTS.client, targetPort: 'client', protocol: 'TCP', appProtocol: 'grpc' },
        { name: 'http', port: PORTS.http, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
      ],
    },
  };
}

export function buildClientService(cluster: KVCluster, spec: ResolvedSpec): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: namesOf(cluster.metadata.name).clientService,
      namespace: cluster.metadata.namespace,
      labels: { ...commonLabels(cluster, spec.image), [SERVICE_ROLE_LABEL]: 'client' },
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(cluster.metadata.name),
      ports: [
        { name: 'client', port: PORTS.client, targetPort: 'client', protocol: 'TCP', appProtocol: 'grpc' },
      ],
    },
  };
}
