import { describe, expect, it } from '@jest/globals';
import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
import { withDefaults } from '../../src/api/types.js';
import { defaultContext } from '../../src/builders/context.js';
import { desiredObjects } from '../../src/builders/desired.js';
import { ANNOTATIONS, imageTag } from '../../src/builders/names.js';
import { cluster } from './fixtures.js';

const ctx = defaultContext(3);

function container(objs: ReturnType<typeof desiredObjects>): V1Container {
  return objs.statefulSet.spec!.template.spec!.containers[0]!;
}

function envMap(env: V1EnvVar[] | undefined): Map<string, V1EnvVar> {
  return new Map((env ?? []).map((e) => [e.name, e]));
}

describe('desired objects', () => {
  it('every object is owned by the cluster (controller reference) and carries the recommended labels', () => {
    const objs = desiredObjects(cluster(), ctx);
    const all = [
      objs.configMap,
      objs.peerService,
      objs.clientService,
      objs.statefulSet,
      objs.podDisruptionBudget!,
    ];
    for (const o of all) {
      expect(o.metadata!.namespace).toBe('shop');
      expect(o.metadata!.ownerReferences).toEqual([
        {
          apiVersion: 'kvring.dev/v1alpha1',
          kind: 'KVCluster',
          name: 'demo',
          uid: 'uid-1234',
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(o.metadata!.labels).toMatchObject({
        'app.kubernetes.io/name': 'kvring',
        'app.kubernetes.io/instance': 'demo',
        'app.kubernetes.io/component': 'cache',
        'app.kubernetes.io/part-of': 'kvring',
        'app.kubernetes.io/managed-by': 'kvring-operator',
        'app.kubernetes.io/version': '0.1.0',
      });
    }
    expect(all.map((o) => `${o.kind}/${o.metadata!.name}`)).toEqual([
      'ConfigMap/demo-config',
      'Service/demo-peers',
      'Service/demo',
      'StatefulSet/demo',
      'PodDisruptionBudget/demo',
    ]);
  });

  it('the headless peer Service publishes not-ready pods and names its port for the SRV lookup', () => {
    const { peerService, statefulSet } = desiredObjects(cluster(), ctx);
    expect(peerService.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(peerService.spec!.ports!.map((p) => [p.name, p.port])).toEqual([
      ['peer', 50052],
      ['client', 50051],
      ['http', 8080],
    ]);
    expect(statefulSet.spec!.serviceName).toBe('demo-peers');
    expect(peerService.spec!.selector).toEqual(statefulSet.spec!.selector.matchLabels);
  });

  it('the client Service exposes only the client port to ready pods', () => {
    const { clientService } = desiredObjects(cluster(), ctx);
    expect(clientService.spec!.type).toBe('ClusterIP');
    expect(clientService.spec!.publishNotReadyAddresses).toBeUndefined();
    expect(clientService.spec!.ports!.map((p) => p.port)).toEqual([50051]);
  });

  it('the ConfigMap carries the node settings derived from the spec', () => {
    const { configMap } = desiredObjects(
      cluster({
        replicas: 5,
        replicationFactor: 3,
        readQuorum: 1,
        writeQuorum: 3,
        cache: { maxMemory: '1Gi', defaultTTL: '10m' },
        legacyApi: { url: 'http://legacy.shop.svc:8000' },
      }),
      defaultContext(5, { clusterDomain: 'corp.local' }),
    );
    expect(configMap.data).toEqual({
      KVRING_HOST: '0.0.0.0',
      KVRING_CLIENT_PORT: '50051',
      KVRING_PEER_PORT: '50052',
      KVRING_HTTP_PORT: '8080',
      KVRING_DISCOVERY_SERVICE: 'demo-peers.shop.svc.corp.local',
      KVRING_DISCOVERY_PORT_NAME: 'peer',
      KVRING_DISCOVERY_POD_PREFIX: 'demo',
      KVRING_REPLICATION_FACTOR: '3',
      KVRING_READ_QUORUM: '1',
      KVRING_WRITE_QUORUM: '3',
      KVRING_MAX_MEMORY: '1Gi',
      KVRING_DEFAULT_TTL: '10m',
      KVRING_POSTGRES_HOST: 'pg.db.svc',
      KVRING_POSTGRES_PORT: '5432',
      KVRING_POSTGRES_DATABASE: 'kvring',
      KVRING_POSTGRES_TABLE: 'kv_store',
      KVRING_LEGACY_URL: 'http://legacy.shop.svc:8000',
      KVRING_LEGACY_PATH_TEMPLATE: '/legacy/data/{key}',
      KVRING_LEGACY_TIMEOUT: '2s',
      KVRING_SHUTDOWN_TIMEOUT: '20s',
    });
    // No secret ever lands in the ConfigMap.
    expect(
      Object.keys(configMap.data!).some(
        (k) => /PASSWORD|TOKEN|USER|URL$/.test(k) && k !== 'KVRING_LEGACY_URL',
      ),
    ).toBe(false);
  });

  it('secrets reach the container by reference only', () => {
    const objs = desiredObjects(
      cluster({
        legacyApi: { url: 'https://legacy', tokenSecret: { name: 'legacy' } },
        auth: { tokenSecret: { name: 'client-auth', key: 'secret' } },
      }),
      ctx,
    );
    const env = envMap(container(objs).env);
    expect(env.get('KVRING_POSTGRES_USER')!.valueFrom).toEqual({
      secretKeyRef: { name: 'pg-creds', key: 'username' },
    });
    expect(env.get('KVRING_POSTGRES_PASSWORD')!.valueFrom).toEqual({
      secretKeyRef: { name: 'pg-creds', key: 'password' },
    });
    expect(env.get('KVRING_LEGACY_TOKEN')!.valueFrom).toEqual({
      secretKeyRef: { name: 'legacy', key: 'token' },
    });
    // The client tokens are a mounted file the node reloads, not a variable read once.
    expect(env.has('KVRING_AUTH_TOKEN')).toBe(false);
    expect(objs.configMap.data!.KVRING_AUTH_TOKEN_FILE).toBe('/etc/kvring/auth/tokens');
    expect(objs.statefulSet.spec!.template.spec!.volumes).toContainEqual({
      name: 'auth',
      secret: { secretName: 'client-auth', items: [{ key: 'secret', path: 'tokens' }], defaultMode: 0o440 },
    });
    expect(container(objs).volumeMounts).toContainEqual({
      name: 'auth',
      mountPath: '/etc/kvring/auth',
      readOnly: true,
    });
    expect(env.get('KVRING_NODE_NAME')!.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(env.get('KVRING_ADVERTISE_HOST')!.value).toBe(
      '$(KVRING_NODE_NAME).demo-peers.shop.svc.cluster.local',
    );
    expect(env.get('KVRING_POD_IP')!.valueFrom).toEqual({ fieldRef: { fieldPath: 'status.podIP' } });
    expect(container(objs).envFrom).toEqual([{ configMapRef: { name: 'demo-config' } }]);
  });

  it('a Postgres URL Secret replaces host, port, database and credentials', () => {
    const objs = desiredObjects(cluster({ postgres: { urlSecret: { name: 'pg-url' } } }), ctx);
    const env = envMap(container(objs).env);
    expect(env.get('KVRING_POSTGRES_URL')!.valueFrom).toEqual({
      secretKeyRef: { name: 'pg-url', key: 'url' },
    });
    expect(env.has('KVRING_POSTGRES_USER')).toBe(false);
    expect(objs.configMap.data!.KVRING_POSTGRES_HOST).toBeUndefined();
    expect(objs.configMap.data!.KVRING_POSTGRES_TABLE).toBe('kv_store');
  });

  it('extra env cannot override what the operator derives from the spec', () => {
    const objs = desiredObjects(
      cluster({
        extraEnv: [
          { name: 'KVRING_LOG_LEVEL', value: 'debug' },
          { name: 'KVRING_REPLICATION_FACTOR', value: '1' },
          { name: 'KVRING_POSTGRES_PASSWORD', value: 'oops' },
        ],
      }),
      ctx,
    );
    const env = container(objs).env!;
    expect(env.filter((e) => e.name === 'KVRING_LOG_LEVEL')).toEqual([
      { name: 'KVRING_LOG_LEVEL', value: 'debug' },
    ]);
    expect(env.some((e) => e.name === 'KVRING_REPLICATION_FACTOR')).toBe(false);
    expect(env.filter((e) => e.name === 'KVRING_POSTGRES_PASSWORD')).toHaveLength(1);
    expect(env.find((e) => e.name === 'KVRING_POSTGRES_PASSWORD')!.value).toBeUndefined();
  });

  it('the pod runs non-root, read-only, without privilege escalation, with probes on the node endpoints', () => {
    const objs = desiredObjects(cluster(), ctx);
    const pod = objs.statefulSet.spec!.template.spec!;
    const c = container(objs);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 });
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.enableServiceLinks).toBe(false);
    expect(c.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.startupProbe!.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.ports!.map((p) => [p.name, p.containerPort])).toEqual([
      ['client', 50051],
      ['peer', 50052],
      ['http', 8080],
    ]);
    // A read-only root filesystem still needs somewhere to write.
    expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
  });

  it('the grace period exceeds the node shutdown timeout', () => {
    const objs = desiredObjects(cluster({ shutdownTimeoutSeconds: 45 }), ctx);
    expect(objs.configMap.data!.KVRING_SHUTDOWN_TIMEOUT).toBe('45s');
    expect(objs.statefulSet.spec!.template.spec!.terminationGracePeriodSeconds).toBe(55);
  });

  it('the StatefulSet takes its size and partition from the context, not only the spec', () => {
    const objs = desiredObjects(
      cluster({ replicas: 3 }),
      defaultContext(3, { statefulSetReplicas: 5, partition: 4 }),
    );
    expect(objs.statefulSet.spec).toMatchObject({
      replicas: 5,
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 4 } },
    });
  });

  it('user pod labels and annotations are kept, but never override the selector', () => {
    const objs = desiredObjects(
      cluster({
        podLabels: { team: 'cart', 'app.kubernetes.io/instance': 'hijack' },
        podAnnotations: { 'example.com/owner': 'cart' },
      }),
      ctx,
    );
    const meta = objs.statefulSet.spec!.template.metadata!;
    expect(meta.labels).toMatchObject({ team: 'cart', 'app.kubernetes.io/instance': 'demo' });
    expect(meta.annotations).toMatchObject({ 'example.com/owner': 'cart' });
  });

  it('scheduling settings are passed through, with a default anti-affinity when none is given', () => {
    const plain = desiredObjects(cluster(), ctx).statefulSet.spec!.template.spec!;
    expect(
      plain.affinity!.podAntiAffinity!.preferredDuringSchedulingIgnoredDuringExecution![0]!.podAffinityTerm
        .topologyKey,
    ).toBe('kubernetes.io/hostname');
    const custom = desiredObjects(
      cluster({
        scheduling: {
          affinity: { nodeAffinity: { x: 1 } },
          tolerations: [{ key: 'dedicated', operator: 'Exists' }],
          nodeSelector: { pool: 'cache' },
          topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' },
          ],
          priorityClassName: 'critical',
        },
        imagePullSecrets: [{ name: 'regcred' }],
      }),
      ctx,
    ).statefulSet.spec!.template.spec!;
    expect(custom).toMatchObject({
      affinity: { nodeAffinity: { x: 1 } },
      tolerations: [{ key: 'dedicated', operator: 'Exists' }],
      nodeSelector: { pool: 'cache' },
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }],
      priorityClassName: 'critical',
      imagePullSecrets: [{ name: 'regcred' }],
    });
  });

  it('TLS mounts the Secret and points the node at its files; ca.crt only when present', () => {
    const withCa = desiredObjects(
      cluster({ tls: { secretName: 'demo-tls' } }),
      defaultContext(3, { tlsHasCa: true }),
    );
    expect(withCa.configMap.data).toMatchObject({
      KVRING_TLS_CERT_FILE: '/etc/kvring/tls/tls.crt',
      KVRING_TLS_KEY_FILE: '/etc/kvring/tls/tls.key',
      KVRING_TLS_CA_FILE: '/etc/kvring/tls/ca.crt',
    });
    expect(withCa.statefulSet.spec!.template.spec!.volumes).toContainEqual({
      name: 'tls',
      secret: { secretName: 'demo-tls', defaultMode: 0o440 },
    });
    const noCa = desiredObjects(cluster({ tls: { secretName: 'demo-tls' } }), ctx);
    expect(noCa.configMap.data!.KVRING_TLS_CA_FILE).toBeUndefined();
  });

  it('a change to the node settings changes the pod template (pods restart to read it)', () => {
    const a = desiredObjects(cluster({ cache: { maxMemory: '256Mi' } }), ctx).statefulSet;
    const b = desiredObjects(cluster({ cache: { maxMemory: '512Mi' } }), ctx).statefulSet;
    const c = desiredObjects(cluster({ cache: { maxMemory: '256Mi' } }), ctx).statefulSet;
    const hash = (s: typeof a): string => s.metadata!.annotations![ANNOTATIONS.templateHash]!;
    expect(hash(a)).not.toBe(hash(b));
    expect(hash(a)).toBe(hash(c));
    expect(a.spec!.template.metadata!.annotations![ANNOTATIONS.configHash]).not.toBe(
      b.spec!.template.metadata!.annotations![ANNOTATIONS.configHash],
    );
    // A new version of a Secret read as variables rolls the pods too
    // (references.test.ts: the TLS and token Secrets do not count).
    const rotated = desiredObjects(cluster(), defaultContext(3, { secretsHash: 'v2' })).statefulSet;
    expect(hash(rotated)).not.toBe(hash(desiredObjects(cluster(), ctx).statefulSet));
  });

  it('replicas and partition do not count as a template change', () => {
    const a = desiredObjects(cluster(), defaultContext(3)).statefulSet;
    const b = desiredObjects(
      cluster(),
      defaultContext(3, { statefulSetReplicas: 7, partition: 2 }),
    ).statefulSet;
    expect(a.metadata!.annotations).toEqual(b.metadata!.annotations);
  });

  it('the PodDisruptionBudget allows maxUnavailable evictions and can be turned off', () => {
    const { podDisruptionBudget } = desiredObjects(
      cluster({ podDisruptionBudget: { maxUnavailable: 1 } }),
      ctx,
    );
    expect(podDisruptionBudget!.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'kvring', 'app.kubernetes.io/instance': 'demo' } },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
    expect(
      desiredObjects(cluster({ podDisruptionBudget: { enabled: false } }), ctx).podDisruptionBudget,
    ).toBeUndefined();
  });

  it('a cert-manager Certificate only when spec.tls names an issuer, for every name members and clients dial', () => {
    expect(desiredObjects(cluster({ tls: { secretName: 't' } }), ctx).certificate).toBeUndefined();
    const { certificate } = desiredObjects(
      cluster({ tls: { secretName: 'demo-tls', issuerRef: { name: 'ca' }, renewBefore: '240h' } }),
      ctx,
    );
    expect(certificate!.metadata!.name).toBe('demo-tls');
    expect(certificate!.spec).toEqual({
      secretName: 'demo-tls',
      issuerRef: { name: 'ca', kind: 'Issuer', group: 'cert-manager.io' },
      dnsNames: [
        'demo',
        'demo.shop.svc',
        'demo.shop.svc.cluster.local',
        'demo-peers.shop.svc',
        'demo-peers.shop.svc.cluster.local',
        '*.demo-peers.shop.svc',
        '*.demo-peers.shop.svc.cluster.local',
      ],
      usages: ['digital signature', 'key encipherment', 'server auth', 'client auth'],
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      renewBefore: '240h',
    });
  });

  it('the ServiceMonitor exists only when enabled and its CRD is installed', () => {
    const on = cluster({ monitoring: { serviceMonitor: { enabled: true, labels: { release: 'prom' } } } });
    expect(desiredObjects(on, ctx).serviceMonitor).toBeUndefined();
    const sm = desiredObjects(on, defaultContext(3, { serviceMonitorAvailable: true })).serviceMonitor!;
    expect(sm.metadata!.labels).toMatchObject({ release: 'prom', 'app.kubernetes.io/instance': 'demo' });
    expect(sm.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s', scheme: 'http' }]);
    expect(sm.spec.selector.matchLabels).toMatchObject({ 'kvring.dev/service': 'peers' });
    expect(
      desiredObjects(cluster(), defaultContext(3, { serviceMonitorAvailable: true })).serviceMonitor,
    ).toBeUndefined();
  });

  it('builds from a spec with nothing but postgres (every default filled in)', () => {
    const s = withDefaults({ postgres: { urlSecret: { name: 'u' } } });
    expect(s).toMatchObject({
      replicas: 3,
      replicationFactor: 3,
      readQuorum: 2,
      writeQuorum: 2,
      image: 'kvring/node:0.1.0',
      imagePullPolicy: 'IfNotPresent',
      cache: { maxMemory: '256Mi', defaultTTL: '0s' },
      podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
      shutdownTimeoutSeconds: 20,
    });
  });

  it('labels the version only when the image tag is a valid label value', () => {
    expect(imageTag('kvring/node:0.1.0')).toBe('0.1.0');
    expect(imageTag('registry:5000/kvring/node')).toBeUndefined();
    expect(imageTag('kvring/node@sha256:abc')).toBeUndefined();
    expect(imageTag('registry:5000/kvring/node:1.2')).toBe('1.2');
  });
});
