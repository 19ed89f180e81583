// The contract with the node: the environment the operator gives a pod must
// load with the node's own configuration parser, and mean what the spec says.
import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '@kvring/node/config/config';
import { tracingSettings } from '@kvring/node/tracing/settings';
import { TRACING_PROTOCOLS, withDefaults } from '../../src/api/types.js';
import { defaultContext } from '../../src/builders/context.js';
import { NODE_PROTOCOLS, checkTracing } from '../../src/reconcile/tracing-check.js';
import { desiredObjects } from '../../src/builders/desired.js';
import { cluster } from './fixtures.js';

/** The environment a pod named `pod` would see (envFrom, then env; secrets and the downward API filled in). */
function podEnv(objs: ReturnType<typeof desiredObjects>, pod: string): Record<string, string> {
  const env: Record<string, string> = { ...objs.configMap.data };
  for (const e of objs.statefulSet.spec!.template.spec!.containers[0]!.env ?? []) {
    if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = pod;
    else if (e.valueFrom?.fieldRef) env[e.name] = `downward:${e.valueFrom.fieldRef.fieldPath}`;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = `secret:${e.valueFrom.secretKeyRef.key}`;
    else env[e.name] = (e.value ?? '').replace(/\$\((\w+)\)/g, (_m, v: string) => env[v] ?? '');
  }
  return env;
}

describe('the node accepts the configuration the operator builds', () => {
  it('for a full spec', () => {
    const objs = desiredObjects(
      cluster({
        replicas: 5,
        replicationFactor: 3,
        readQuorum: 2,
        writeQuorum: 2,
        cache: { maxMemory: '1Gi', defaultTTL: '10m' },
        legacyApi: { url: 'http://legacy.shop.svc:8000', timeout: '500ms', tokenSecret: { name: 'legacy' } },
        auth: { tokenSecret: { name: 'auth' } },
        tls: { secretName: 'tls' },
        shutdownTimeoutSeconds: 30,
        extraEnv: [{ name: 'KVRING_LOG_LEVEL', value: 'debug' }],
      }),
      defaultContext(5, { tlsHasCa: true }),
    );
    const cfg = loadConfig(podEnv(objs, 'demo-3'));
    expect(cfg).toMatchObject({
      nodeName: 'demo-3',
      host: '0.0.0.0',
      advertiseHost: 'demo-3.demo-peers.shop.svc.cluster.local',
      clientPort: 50051,
      peerPort: 50052,
      httpPort: 8080,
      discoveryService: 'demo-peers.shop.svc.cluster.local',
      discoveryPortName: 'peer',
      discoveryPodPrefix: 'demo',
      replicationFactor: 3,
      readQuorum: 2,
      writeQuorum: 2,
      maxMemory: 1024 ** 3,
      defaultTtlMs: 600_000,
      postgresHost: 'pg.db.svc',
      postgresPort: 5432,
      postgresUser: 'secret:username',
      postgresPassword: 'secret:password',
      legacyUrl: 'http://legacy.shop.svc:8000',
      legacyTimeoutMs: 500,
      legacyToken: 'secret:token',
      authTokenFile: '/etc/kvring/auth/tokens',
      tlsCertFile: '/etc/kvring/tls/tls.crt',
      tlsKeyFile: '/etc/kvring/tls/tls.key',
      tlsCaFile: '/etc/kvring/tls/ca.crt',
      shutdownTimeoutMs: 30_000,
      logLevel: 'debug',
    });
    // The pod's grace period outlasts the node's own shutdown.
    expect(objs.statefulSet.spec!.template.spec!.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(
      cfg.shutdownTimeoutMs,
    );
    // The SRV name the node asks for is a port of the headless Service.
    expect(objs.peerService.spec!.ports!.map((p) => p.name)).toContain(cfg.discoveryPortName);
  });

  it('for the defaults, and with a PostgreSQL URL', () => {
    expect(loadConfig(podEnv(desiredObjects(cluster(), defaultContext(3)), 'demo-0'))).toMatchObject({
      maxMemory: 256 * 1024 ** 2,
      defaultTtlMs: 0,
      shutdownTimeoutMs: 20_000,
    });
    const url = loadConfig(
      podEnv(
        desiredObjects(cluster({ postgres: { urlSecret: { name: 'pg' } } }), defaultContext(3)),
        'demo-0',
      ),
    );
    expect(url.postgresUrl).toBe('secret:url');
  });
});

describe('the node accepts the tracing settings the operator builds', () => {
  const traced = (protocol: 'grpc' | 'http/protobuf' | 'http/json') =>
    podEnv(
      desiredObjects(
        cluster({
          tracing: { endpoint: 'http://otel-collector.observability.svc:4318', protocol, samplingRatio: 0.2 },
        }),
        defaultContext(3),
      ),
      'demo-1',
    );

  it('off without spec.tracing', () => {
    expect(tracingSettings(podEnv(desiredObjects(cluster(), defaultContext(3)), 'demo-0'))).toBeUndefined();
  });

  it.each(NODE_PROTOCOLS)('%s', (protocol) => {
    const env = traced(protocol);
    expect(tracingSettings(env)).toEqual({ protocol });
    // The node's own configuration still loads beside the OTEL_* variables.
    expect(loadConfig(env).nodeName).toBe('demo-1');
  });

  // What the operator lets through, the node takes; what the node would
  // refuse at start, the operator reports in Degraded instead (grpc, so far).
  it.each(TRACING_PROTOCOLS)('%s: the operator refuses it exactly when the node would', (protocol) => {
    const spec = withDefaults(cluster({ tracing: { endpoint: 'http://c:4318', protocol } }).spec);
    const operatorRefuses = checkTracing(spec) !== undefined;
    let nodeRefuses = false;
    try {
      tracingSettings(traced(protocol));
    } catch {
      nodeRefuses = true;
    }
    expect({ protocol, operatorRefuses }).toEqual({ protocol, operatorRefuses: nodeRefuses });
  });
});
