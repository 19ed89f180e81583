// A cert-manager Certificate for the cluster's TLS Secret, built when
// spec.tls.issuerRef names an issuer. cert-manager writes tls.crt, tls.key
// and (for CA-type issuers) ca.crt into spec.tls.secretName and renews them
// before expiry; the nodes reload the files (no pod restarts). The names
// cover what clients and members dial: the client Service, and every pod
// through the headless Service. One certificate serves both ports and both
// directions of mutual TLS between members, hence server and client auth.
import type { KVCluster, KubeObject, ResolvedSpec } from '../api/types.js';
import { commonLabels, namesOf, ownerReference } from './names.js';

export interface Certificate extends KubeObject {
  spec: {
    secretName: string;
    issuerRef: { name: string; kind: string; group: string };
    dnsNames: string[];
    usages: string[];
    privateKey: { algorithm: string; size: number; rotationPolicy: string };
    duration?: string;
    renewBefore?: string;
  };
}

export function buildCertificate(
  cluster: KVCluster,
  spec: ResolvedSpec,
  clusterDomain: string,
): Certificate | undefined {
  const tls = spec.tls;
  if (!tls?.issuerRef) return undefined;
  const n = namesOf(cluster.metadata.name);
  const ns = cluster.metadata.namespace;
  const svc = (name: string): string[] => [`${name}.${ns}.svc`, `${name}.${ns}.svc.${clusterDomain}`];
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: {
      name: n.certificate,
      namespace: ns,
      labels: commonLabels(cluster, spec.image),
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      secretName: tls.secretName,
      issuerRef: tls.issuerRef,
      dnsNames: [
        n.clientService,
        ...svc(n.clientService),
        ...svc(n.peerService),
        `*.${n.peerService}.${ns}.svc`,
        `*.${n.peerService}.${ns}.svc.${clusterDomain}`,
      ],
      usages: ['digital signature', 'key encipherment', 'server auth', 'client auth'],
      // A new key with every renewal: a leaked key expires with its certificate.
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      ...(tls.duration && { duration: tls.duration }),
      ...(tls.renewBefore && { renewBefore: tls.renewBefore }),
    },
  };
}
