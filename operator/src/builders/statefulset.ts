// The StatefulSet of cache nodes. Stable pod names (<name>-0, <name>-1, ...)
// are the ring's member names. Pods start in parallel (a node tolerates
// absent peers; OrderedReady would let one stuck pod hold back the rest),
// and updates roll through the partition the reconciler sets, one pod at a
// time (reconcile/rollout.ts explains why the partition and not OnDelete).
import type {
  V1Affinity,
  V1PodTemplateSpec,
  V1StatefulSet,
  V1TopologySpreadConstraint,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import type { KVCluster, ResolvedSpec } from '../api/types.js';
import { AUTH_MOUNT, AUTH_TOKENS_FILE, TLS_MOUNT, nodeEnv, nodeSettings } from './config.js';
import type { BuildContext } from './context.js';
import { hashOf } from './hash.js';
import { ANNOTATIONS, PORTS, commonLabels, namesOf, ownerReference, selectorLabels } from './names.js';

/** The node image runs as this non-root user and group. */
export const NODE_UID = 65532;
/** Seconds the pod gets beyond the node's own shutdown timeout before SIGKILL. */
export const GRACE_MARGIN_SECONDS = 10;

export function buildPodTemplate(
  cluster: KVCluster,
  spec: ResolvedSpec,
  ctx: BuildContext,
): V1PodTemplateSpec {
  const name = cluster.metadata.name;
  const n = namesOf(name);
  const annotations: Record<string, string> = {
    ...spec.podAnnotations,
    // envFrom is read once at start: a new ConfigMap must restart the pods.
    [ANNOTATIONS.configHash]: hashOf(nodeSettings(cluster, spec, ctx)),
  };
  if (ctx.secretsHash) annotations[ANNOTATIONS.secretsHash] = ctx.secretsHash;
  const volumes: V1Volume[] = [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }];
  const mounts: V1VolumeMount[] = [{ name: 'tmp', mountPath: '/tmp' }];
  if (spec.tls) {
    volumes.push({ name: 'tls', secret: { secretName: spec.tls.secretName, defaultMode: 0o440 } });
    mounts.push({ name: 'tls', mountPath: TLS_MOUNT, readOnly: true });
  }
  if (spec.auth) {
    const { name: secretName, key } = spec.auth.tokenSecret;
    volumes.push({
      name: 'auth',
      secret: { secretName, items: [{ key, path: AUTH_TOKENS_FILE }], defaultMode: 0o440 },
    });
    // Not a subPath mount: the kubelet does not update those.
    mounts.push({ name: 'auth', mountPath: AUTH_MOUNT, readOnly: true });
  }
  const sched = spec.scheduling;
  return {
    metadata: {
      // The user's labels first: the selector and app.kubernetes.io/* labels win.
      labels: { ...spec.podLabels, ...commonLabels(cluster, spec.image) },
      annotations,
    },
    spec: {
      // The nodes never call the Kubernetes API.
      automountServiceAccountToken: false,
      // Service links would inject variables such as KVRING_PORT for a
      // Service named kvring, next to the node's own KVRING_* settings.
      enableServiceLinks: false,
      terminationGracePeriodSeconds: spec.shutdownTimeoutSeconds + GRACE_MARGIN_SECONDS,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: NODE_UID,
        runAsGroup: NODE_UID,
        fsGroup: NODE_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      ...(spec.imagePullSecrets.length > 0 && { imagePullSecrets: spec.imagePullSecrets }),
      affinity: sched.affinity ?? defaultAffinity(name),
      ...(sched.tolerations && { tolerations: sched.tolerations }),
      ...(sched.nodeSelector && { nodeSelector: sched.nodeSelector }),
      ...(sched.topologySpreadConstraints && {
        topologySpreadConstraints: sched.topologySpreadConstraints as unknown as V1TopologySpreadConstraint[],
      }),
      ...(sched.priorityClassName && { priorityClassName: sched.priorityClassName }),
      containers: [
        {
          name: 'node',
          image: spec.image,
          imagePullPolicy: spec.imagePullPolicy,
          ports: [
            { name: 'client', containerPort: PORTS.client, protocol: 'TCP' },
            { name: 'peer', containerPort: PORTS.peer, protocol: 'TCP' },
            { name: 'http', containerPort: PORTS.http, protocol: 'TCP' },
          ],
          envFrom: [{ configMapRef: { name: n.configMap } }],
          env: nodeEnv(cluster, spec, ctx),
          ...(Object.keys(spec.resources).length > 0 && { resources: spec.resources as never }),
          // Startup may include connecting to PostgreSQL: give it up to 2
          // minutes before liveness starts counting.
          startupProbe: {
            httpGet: { path: '/healthz', port: 'http' },
            periodSeconds: 2,
            failureThreshold: 60,
            timeoutSeconds: 2,
          },
          livenessProbe: {
            httpGet: { path: '/healthz', port: 'http' },
            periodSeconds: 10,
            failureThreshold: 3,
            timeoutSeconds: 2,
          },
          readinessProbe: {
            httpGet: { path: '/readyz', port: 'http' },
            periodSeconds: 5,
            failureThreshold: 2,
            timeoutSeconds: 2,
          },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            privileged: false,
            capabilities: { drop: ['ALL'] },
          },
          volumeMounts: mounts,
        },
      ],
      volumes,
    },
  };
}

/** Prefer one node pod per Kubernetes node, so a machine failure costs one replica. */
function defaultAffinity(clusterName: string): V1Affinity {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: {
            topologyKey: 'kubernetes.io/hostname',
            labelSelector: { matchLabels: selectorLabels(clusterName) },
          },
        },
      ],
    },
  };
}

export function buildStatefulSet(cluster: KVCluster, spec: ResolvedSpec, ctx: BuildContext): V1StatefulSet {
  const n = namesOf(cluster.metadata.name);
  const template = buildPodTemplate(cluster, spec, ctx);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: n.statefulSet,
      namespace: cluster.metadata.namespace,
      labels: commonLabels(cluster, spec.image),
      // The rollout planner compares this with the running StatefulSet's to
      // see a template change without diffing defaulted API objects.
      annotations: { [ANNOTATIONS.templateHash]: templateHash(template) },
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      replicas: ctx.statefulSetReplicas,
      serviceName: n.peerService,
      selector: { matchLabels: selectorLabels(cluster.metadata.name) },
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: ctx.partition } },
      revisionHistoryLimit: 10,
      template,
    },
  };
}

export function templateHash(template: V1PodTemplateSpec): string {
  return hashOf(template);
}
