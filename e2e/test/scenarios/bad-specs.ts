// Scenario 5: specs the CRD's CEL rules reject, each with its message, as
// `kubectl apply` shows them; a KVCluster whose PostgreSQL Secret does not
// exist is Degraded with a reason naming it, and creating the Secret makes it
// Ready.
import { expect } from '@jest/globals';
import { eventually } from '@kvring/control-plane';
import { DEMO_NS, NODE_IMAGE, condition, getKvc, waitReady } from '../support/kvring.js';
import type { ScenarioContext } from './context.js';

function kvc(name: string, spec: Record<string, unknown>, secret = 'demo-postgres'): Record<string, unknown> {
  return {
    apiVersion: 'kvring.dev/v1alpha1',
    kind: 'KVCluster',
    metadata: { name, namespace: DEMO_NS },
    spec: {
      replicas: 3,
      replicationFactor: 3,
      readQuorum: 2,
      writeQuorum: 2,
      image: NODE_IMAGE,
      cache: { maxMemory: '64Mi' },
      postgres: {
        host: `demo-postgres.${DEMO_NS}.svc`,
        port: 5432,
        database: 'kvring',
        credentialsSecret: { name: secret },
      },
      ...spec,
    },
  };
}

const BAD: [string, Record<string, unknown>, RegExp][] = [
  ['W > N', { writeQuorum: 4 }, /writeQuorum \(W\) must not exceed replicationFactor \(N\)/],
  ['R > N', { readQuorum: 4 }, /readQuorum \(R\) must not exceed replicationFactor \(N\)/],
  [
    'R + W <= N',
    { readQuorum: 1, writeQuorum: 1 },
    /readQuorum \+ writeQuorum must exceed replicationFactor/,
  ],
  ['N > replicas', { replicas: 2 }, /replicationFactor \(N\) must not exceed replicas/],
  [
    'PDB maxUnavailable > N - W',
    { podDisruptionBudget: { enabled: true, maxUnavailable: 2 } },
    /podDisruptionBudget.maxUnavailable must not exceed replicationFactor - writeQuorum/,
  ],
  [
    'both urlSecret and credentialsSecret',
    {
      postgres: {
        host: 'x',
        credentialsSecret: { name: 'demo-postgres' },
        urlSecret: { name: 'u', key: 'url' },
      },
    },
    /urlSecret|credentialsSecret/,
  ],
];

export async function badSpecScenario(c: ScenarioContext): Promise<void> {
  const { demo } = c;
  const r = (line: string) => c.report('5 bad specs', line);

  for (const [what, spec, message] of BAD) {
    const res = await demo.run(['apply', '-f', '-'], { input: JSON.stringify(kvc('e2e-bad', spec)) });
    const said = res.stderr.trim().replace(/\s*\n\s*/g, ' ');
    r(`${what}: exit ${res.code}: ${said.slice(0, 300)}`);
    expect(res.code).not.toBe(0);
    expect(said).toMatch(message);
  }
  const gone = await demo.run(['get', 'kvc', 'e2e-bad']);
  expect(gone.code).not.toBe(0);

  // replicationFactor is fixed at creation.
  const change = await demo.run([
    'patch',
    'kvc/demo',
    '--type=merge',
    '-p',
    '{"spec":{"replicationFactor":2}}',
  ]);
  r(
    `changing replicationFactor of kvc/demo: exit ${change.code}: ${change.stderr
      .trim()
      .replace(/\s*\n\s*/g, ' ')
      .slice(0, 400)}`,
  );
  expect(change.code).not.toBe(0);
  expect(change.stderr).toMatch(/replicationFactor cannot be changed after creation/);

  // A missing Secret: Degraded, saying which; creating it brings Ready.
  const secret = 'e2e-missing-pg';
  await demo.run(['delete', 'secret', secret, '--ignore-not-found']);
  const t0 = Date.now();
  await demo.apply(
    JSON.stringify(
      kvc(
        'e2e-nosecret',
        {
          replicas: 1,
          replicationFactor: 1,
          readQuorum: 1,
          writeQuorum: 1,
          podDisruptionBudget: { enabled: false },
        },
        secret,
      ),
    ),
  );
  const degraded = await eventually(
    async () => {
      const k = await getKvc(demo, 'e2e-nosecret');
      const d = condition(k, 'Degraded');
      return d?.status === 'True' ? { d, ready: condition(k, 'Ready') } : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500, what: 'e2e-nosecret Degraded' },
  );
  r(
    `missing Secret: Degraded after ${Date.now() - t0} ms, reason ${degraded.d.reason}: ${degraded.d.message}; ` +
      `Ready=${degraded.ready?.status} (${degraded.ready?.reason})`,
  );
  expect(degraded.d.reason).toBe('SecretNotFound');
  expect(degraded.d.message).toContain(secret);
  expect(degraded.ready?.status).not.toBe('True');

  const creds = await demo.json<{ data: Record<string, string> }>(['get', 'secret', 'demo-postgres']);
  const t1 = Date.now();
  await demo.apply(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secret },
      type: 'Opaque',
      data: creds.data,
    }),
  );
  await waitReady(demo, 180_000, 'e2e-nosecret');
  const after = await getKvc(demo, 'e2e-nosecret');
  r(
    `Secret created: Ready after ${Date.now() - t1} ms; Degraded=${condition(after, 'Degraded')?.status} ` +
      `(${condition(after, 'Degraded')?.reason})`,
  );
  expect(condition(after, 'Degraded')?.status).toBe('False');

  await demo.ok(['delete', 'kvc', 'e2e-nosecret', '--wait=true', '--timeout=120s'], { timeoutMs: 130_000 });
  await demo.ok(['delete', 'secret', secret]);
}
