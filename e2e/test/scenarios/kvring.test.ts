// The kvring scenarios on a real cluster, in order: each builds on the state
// the previous one left (scenario 1 installs, scenario 7 deletes, last). One file so
// that jest keeps the order.
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { helm, DEMO_NS, OPERATOR_NS, RELEASE } from '../support/kvring.js';
import { scenarioContext, type ScenarioContext } from './context.js';
import { badSpecScenario } from './bad-specs.js';
import { chaosScenario, slowChaosScenario } from './chaos.js';
import { chaosMeshScenario } from './chaos-mesh.js';
import { deleteScenario } from './delete.js';
import { evictScenario } from './evict.js';
import { failoverScenario } from './failover.js';
import { installScenario } from './install.js';
import { monitoringScenario } from './monitoring.js';
import { PROMETHEUS_NS } from '../support/prometheus.js';
import { rolloutScenario } from './rollout.js';
import { scaleScenario } from './scale.js';
import { warmScenario } from './warm.js';
import { tracingScenario } from './tracing.js';
import { TRACING_NS } from '../support/jaeger.js';
import { upgradeScenario } from './upgrade.js';

let c: ScenarioContext;

beforeAll(() => {
  c = scenarioContext();
});

afterAll(async () => {
  if (process.env.KVRING_E2E_KEEP_NAMESPACES) return;
  await c.k.run(['delete', 'namespace', DEMO_NS, '--wait=true', '--timeout=120s'], { timeoutMs: 130_000 });
  await c.k.run(['delete', 'namespace', TRACING_NS, '--ignore-not-found', '--wait=true', '--timeout=60s'], {
    timeoutMs: 70_000,
  });
  await c.k.run(
    ['delete', 'namespace', PROMETHEUS_NS, '--ignore-not-found', '--wait=true', '--timeout=60s'],
    {
      timeoutMs: 70_000,
    },
  );
  await helm(c.env, ['uninstall', RELEASE, '--namespace', OPERATOR_NS, '--wait', '--timeout', '60s']);
  await c.k.run(['delete', 'namespace', OPERATOR_NS, '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
}, 300_000);

// Deletion (7) runs last: scenarios 8 (monitoring), 9 (chaos-mesh) and 12 (tracing) need the installed cluster.
// Each scenario's name starts with its number: `scripts/e2e.sh test -t 'Kubernetes 3'` runs one
// (against a cluster the earlier ones left, with KVRING_E2E_KEEP_NAMESPACES=1).
const SCENARIOS: [string, (c: ScenarioContext) => Promise<void>][] = [
  ['1. helm install, demo bundle, Ready KVCluster serving reads and writes', installScenario],
  ['2. pod-kill every 5 s under load: no acknowledged write lost, no stale read, Ready again', chaosScenario],
  ['3. scale to 5 and back to 3: ring converged, data readable, leaving pods drained', scaleScenario],
  ['4. rolling update one pod at a time, writes keep succeeding, Ready at the end', rolloutScenario],
  [
    '10. pod-kill every 15 s under load: no acknowledged write lost, no stale read, Ready again',
    slowChaosScenario,
  ],
  ['11. every pod evicted through the Eviction API under the PDB, under load', evictScenario],
  [
    '13. rolling upgrade from the baseline image (90a4854) and back under load: nothing lost, no read goes back',
    upgradeScenario,
  ],
  ['5. bad specs rejected by CEL; a missing Secret is Degraded until created', badSpecScenario],
  [
    '6. operator failover (leader deleted, then frozen until its Lease expires): the standby takes over and reconciles',
    failoverScenario,
  ],
  ['8. Prometheus scrapes nodes and operator; every rule and dashboard query evaluates', monitoringScenario],
  [
    '9. chaos-mesh pod-kill as written: chaos-mesh kills pods under load, no acknowledged write lost, Ready again',
    chaosMeshScenario,
  ],
  [
    "14. warm restarts: each pod's memory hit ratio before, during and after a rollout under steady load",
    warmScenario,
  ],
  [
    '12. tracing on through helm and spec.tracing: one request traced across the cache pods in Jaeger, with the operator’s reconciles',
    tracingScenario,
  ],
  ['7. deleting the KVCluster removes everything it owned', deleteScenario],
];

describe('kvring on Kubernetes', () => {
  for (const [name, run] of SCENARIOS) it(name, () => run(c), 900_000);
});
