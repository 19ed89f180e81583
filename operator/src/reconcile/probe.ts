// Asks every running node pod for its ClusterInfo, in parallel, each with a
// short deadline: a node that does not answer is reported, never waited on.
import type { V1Pod } from '@kubernetes/client-node';
import { PORTS } from '../builders/names.js';
import { errorText } from '../kube/informer.js';
import type { NodeConnection } from '../node-client.js';
import { SpanKind, inChildSpan } from '../tracing/spans.js';
import type { NodeReport } from './node-report.js';

/** A pod the operator can talk to: running, not being deleted, with an IP. */
export function podIsRunning(pod: V1Pod): boolean {
  return pod.status?.phase === 'Running' && !!pod.status.podIP && !pod.metadata?.deletionTimestamp;
}

export function podIsReady(pod: V1Pod): boolean {
  return (
    podIsRunning(pod) && (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/**
 * Where the operator reaches a pod's client port (or `port`: the peer port
 * for Drain). With TLS the node's
 * certificate names its DNS name, so that is used; otherwise the pod IP
 * (it works before the pod's DNS record exists).
 */
export function podAddress(
  pod: V1Pod,
  peerServiceFqdn: string,
  tls: boolean,
  port: number = PORTS.client,
): string | undefined {
  if (!podIsRunning(pod)) return undefined;
  if (tls) return `${pod.metadata?.name}.${peerServiceFqdn}:${port}`;
  const ip = pod.status!.podIP!;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export async function probeNodes(
  conn: NodeConnection,
  pods: readonly V1Pod[],
  peerServiceFqdn: string,
  tls: boolean,
): Promise<NodeReport[]> {
  const targets = pods
    .map((p) => ({ pod: p.metadata?.name ?? '', address: podAddress(p, peerServiceFqdn, tls) }))
    .filter((t): t is { pod: string; address: string } => t.address !== undefined);
  const results = await inChildSpan(
    'probe nodes',
    SpanKind.INTERNAL,
    { 'kvring.pods': targets.length },
    async (span) => {
      const settled = await Promise.allSettled(targets.map((t) => conn.clusterInfo(t.address)));
      span?.setAttribute('kvring.pods.reachable', settled.filter((r) => r.status === 'fulfilled').length);
      return settled;
    },
  );
  return targets
    .map((t, i): NodeReport => {
      const r = results[i]!;
      return r.status === 'fulfilled'
        ? { pod: t.pod, reachable: true, info: r.value }
        : { pod: t.pod, reachable: false, error: errorText(r.reason) };
    })
    .sort((a, b) => a.pod.localeCompare(b.pod));
}
