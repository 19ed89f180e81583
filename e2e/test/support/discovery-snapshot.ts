// What Prometheus's Kubernetes service discovery would hand to relabelling,
// read once from the API. Debian builds Prometheus without the kubernetes_sd
// plugin (`field kubernetes_sd_configs not found` from its promtool), so the
// scenario lists the pods and Endpoints itself and gives Prometheus static
// target groups carrying the same __meta_kubernetes_* labels. The monitors'
// relabelling (selectors, port names, job labels) then runs inside
// Prometheus exactly as it would over live discovery; only the list is
// frozen at the time it was taken.
import type { Kubectl } from './kubectl.js';

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** Prometheus's spelling of a Kubernetes label in service-discovery meta labels. */
export const sdName = (label: string): string => label.replace(/[^a-zA-Z0-9_]/g, '_');

interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}
interface PodJson {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: { containers: { name: string; ports?: ContainerPort[] }[] };
  status: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}
interface EndpointsJson {
  metadata: { name: string; namespace: string };
  subsets?: {
    addresses?: { ip: string; targetRef?: { kind: string; name: string; namespace?: string } }[];
    ports?: { name?: string; port: number }[];
  }[];
}
interface ServiceJson {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
}

function labelMeta(kind: 'pod' | 'service', labels: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    out[`__meta_kubernetes_${kind}_label_${sdName(k)}`] = v;
    out[`__meta_kubernetes_${kind}_labelpresent_${sdName(k)}`] = 'true';
  }
  return out;
}

function podMeta(p: PodJson): Record<string, string> {
  const ready = p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  return {
    __meta_kubernetes_namespace: p.metadata.namespace,
    __meta_kubernetes_pod_name: p.metadata.name,
    __meta_kubernetes_pod_phase: p.status.phase ?? '',
    __meta_kubernetes_pod_ready: String(ready),
    ...labelMeta('pod', p.metadata.labels),
  };
}

/** Role `pod`: one target per container port of every pod with an address. */
export function podTargets(pods: PodJson[]): TargetGroup[] {
  return pods
    .filter((p) => p.status.podIP)
    .flatMap((p) =>
      p.spec.containers.flatMap((c) =>
        (c.ports ?? [])
          .filter((port) => (port.protocol ?? 'TCP') === 'TCP')
          .map((port) => ({
            targets: [`${p.status.podIP}:${port.containerPort}`],
            labels: {
              ...podMeta(p),
              __meta_kubernetes_pod_container_name: c.name,
              __meta_kubernetes_pod_container_port_name: port.name ?? '',
              __meta_kubernetes_pod_container_port_number: String(port.containerPort),
            },
          })),
      ),
    );
}

/** Role `endpoints`: one target per ready address and port, with its Service's and Pod's labels. */
export function endpointTargets(
  endpoints: EndpointsJson[],
  services: ServiceJson[],
  pods: PodJson[],
): TargetGroup[] {
  const key = (ns: string, name: string) => `${ns}/${name}`;
  const svc = new Map(services.map((s) => [key(s.metadata.namespace, s.metadata.name), s]));
  const pod = new Map(pods.map((p) => [key(p.metadata.namespace, p.metadata.name), p]));
  const out: TargetGroup[] = [];
  for (const e of endpoints) {
    const s = svc.get(key(e.metadata.namespace, e.metadata.name));
    for (const subset of e.subsets ?? [])
      for (const a of subset.addresses ?? [])
        for (const port of subset.ports ?? []) {
          const p =
            a.targetRef?.kind === 'Pod'
              ? pod.get(key(a.targetRef.namespace ?? e.metadata.namespace, a.targetRef.name))
              : undefined;
          const container = p?.spec.containers.find((c) =>
            c.ports?.some((cp) => cp.containerPort === port.port),
          );
          out.push({
            targets: [`${a.ip}:${port.port}`],
            labels: {
              ...(p ? podMeta(p) : {}),
              ...(container ? { __meta_kubernetes_pod_container_name: container.name } : {}),
              ...labelMeta('service', s?.metadata.labels),
              __meta_kubernetes_namespace: e.metadata.namespace,
              __meta_kubernetes_endpoints_name: e.metadata.name,
              __meta_kubernetes_service_name: e.metadata.name,
              __meta_kubernetes_endpoint_port_name: port.name ?? '',
              __meta_kubernetes_endpoint_ready: 'true',
            },
          });
        }
  }
  return out;
}

/** Both roles' target groups, from every namespace (the monitors select `any: true`). */
export async function discover(k: Kubectl): Promise<{ pod: TargetGroup[]; endpoints: TargetGroup[] }> {
  const [pods, endpoints, services] = await Promise.all([
    k.json<{ items: PodJson[] }>(['get', 'pods', '-A']),
    k.json<{ items: EndpointsJson[] }>(['get', 'endpoints', '-A']),
    k.json<{ items: ServiceJson[] }>(['get', 'services', '-A']),
  ]);
  return {
    pod: podTargets(pods.items),
    endpoints: endpointTargets(endpoints.items, services.items, pods.items),
  };
}
