// Scenario 6: operator failover, twice.
// 1. The leading operator pod (the Lease's holder) is deleted with zero
//    grace: its SIGTERM handler releases the Lease on the way out.
// 2. The new leader is frozen in place (SIGSTOP through containerd): it holds
//    the Lease without renewing or releasing it, as a hung or partitioned
//    leader would, so the standby only takes over once the Lease expires.
// Each time a change is made to the KVCluster while no operator leads; the
// standby takes the Lease within its duration (the chart's promise:
// leaderElection.leaseDuration) and reconciles the change. The frozen leader,
// once thawed, finds the Lease taken and stops leading (no split brain).
import { expect } from '@jest/globals';
import { eventually } from '@kvring/control-plane';
import { podReady, type Kubectl } from '../support/kubectl.js';
import { OPERATOR_NS, getKvc, operatorPods, sleep, waitRolledOut } from '../support/kvring.js';
import { signalContainer } from '../support/node-exec.js';
import type { ScenarioContext } from './context.js';

interface LeaseView {
  metadata: { name: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; leaseTransitions?: number };
}

/** The pod name in a holder identity like `pod-name_1a2b3c4d`. */
const podOf = (holder: string): string => holder.replace(/_[^_]*$/, '');

async function heldLease(ops: Kubectl): Promise<LeaseView> {
  const leases = await ops.json<{ items: LeaseView[] }>(['get', 'leases']);
  const lease = leases.items.find((l) => l.spec.holderIdentity);
  expect(lease).toBeDefined();
  return lease!;
}

/** Stamps the KVCluster's pod template; returns the stamp and the generation it made. */
async function change(c: ScenarioContext, key: string): Promise<{ stamp: string; generation: number }> {
  const stamp = Date.now().toString(36);
  await c.demo.ok([
    'patch',
    'kvc/demo',
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { podAnnotations: { [key]: stamp } } }),
  ]);
  return { stamp, generation: (await getKvc(c.demo)).metadata.generation };
}

/** Polls the Lease until a pod other than `leader` holds it; returns the new holder. */
async function takeover(ops: Kubectl, lease: string, leader: string): Promise<string> {
  for (let i = 0; i < 240; i++) {
    const h = (await ops.json<LeaseView>(['get', 'lease', lease])).spec.holderIdentity ?? '';
    if (h && podOf(h) !== leader) return h;
    await sleep(250);
  }
  return '';
}

async function waitReconciled(
  c: ScenarioContext,
  key: string,
  stamp: string,
  generation: number,
): Promise<void> {
  await eventually(
    async () => {
      const k = await getKvc(c.demo);
      if ((k.status?.observedGeneration ?? 0) < generation) return undefined;
      const sts = await c.demo.json<{
        spec: { template: { metadata: { annotations?: Record<string, string> } } };
      }>(['get', 'statefulset', 'demo']);
      return sts.spec.template.metadata.annotations?.[key] === stamp ? k : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500, what: 'the change made during the failover reconciled' },
  );
}

/** The operator's kvring_operator_leader gauge, read through the API server's pod proxy. */
async function leaderGauge(ops: Kubectl, pod: string): Promise<number | undefined> {
  // The pod proxy takes a port number, not a port's name.
  const spec = await ops.json<{
    spec: { containers: { ports?: { name?: string; containerPort: number }[] }[] };
  }>(['get', 'pod', pod]);
  const port = spec.spec.containers[0]?.ports?.find((p) => p.name === 'http-metrics')?.containerPort;
  const r = await ops.run([
    'get',
    '--raw',
    `/api/v1/namespaces/${OPERATOR_NS}/pods/${pod}:${port}/proxy/metrics`,
  ]);
  const m = /^kvring_operator_leader(?:\{[^}]*\})? (\S+)$/m.exec(r.stdout);
  return m ? Number(m[1]) : undefined;
}

export async function failoverScenario(c: ScenarioContext): Promise<void> {
  const ops = c.k.in(OPERATOR_NS);
  const r = (line: string) => c.report('6 failover', line);

  // --- 1. the leader's pod is deleted ------------------------------------------------------
  const lease = await heldLease(ops);
  const name = lease.metadata.name;
  const durationS = lease.spec.leaseDurationSeconds ?? 15;
  const leader = podOf(lease.spec.holderIdentity!);
  expect((await operatorPods(c.k)).map((p) => p.metadata.name)).toContain(leader);
  r(`Lease ${name}: holder ${lease.spec.holderIdentity}, duration ${durationS} s`);

  let t0 = Date.now();
  await ops.ok(['delete', 'pod', leader, '--grace-period=0', '--force', '--wait=false']);
  const first = await change(c, 'e2e.kvring.dev/failover');
  const holder = await takeover(ops, name, leader);
  const takeoverMs = Date.now() - t0;
  expect(holder).not.toBe('');
  await waitReconciled(c, 'e2e.kvring.dev/failover', first.stamp, first.generation);
  r(
    `deleted leader ${leader}: ${podOf(holder)} took the Lease after ${(takeoverMs / 1000).toFixed(1)} s ` +
      `(lease duration ${durationS} s); the change made meanwhile was in the StatefulSet after ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  await waitRolledOut(c.demo, 'e2e.kvring.dev/failover', first.stamp, 240_000);
  r(
    `KVCluster Ready after the resulting rollout: ${((Date.now() - t0) / 1000).toFixed(1)} s after the delete`,
  );
  // The chart's promise: a standby takes over within leaseDuration (plus one retry period of 2 s
  // and the poll interval above, so the bound is the documented one, not a speed target).
  expect(takeoverMs).toBeLessThanOrEqual((durationS + 3) * 1000);

  // --- 2. the leader freezes: the Lease must expire ----------------------------------------
  const frozen = podOf(holder);
  const standby = await eventually(
    async () => {
      const pods = await operatorPods(c.k);
      return pods.find((p) => p.metadata.name !== frozen && podReady(p));
    },
    { timeoutMs: 120_000, intervalMs: 1_000, what: 'a Ready standby operator pod besides the leader' },
  );
  const frozenPod = (await operatorPods(c.k)).find((p) => p.metadata.name === frozen);
  const containerId = (frozenPod?.status.containerStatuses?.[0] as { containerID?: string } | undefined)
    ?.containerID;
  expect(containerId).toBeDefined();
  expect(await leaderGauge(ops, frozen)).toBe(1);

  t0 = Date.now();
  await signalContainer(containerId!, 'SIGSTOP');
  let thawed = false;
  try {
    const second = await change(c, 'e2e.kvring.dev/lease-expiry');
    const next = await takeover(ops, name, frozen);
    const expiryMs = Date.now() - t0;
    expect(podOf(next)).toBe(standby.metadata.name);
    await waitReconciled(c, 'e2e.kvring.dev/lease-expiry', second.stamp, second.generation);
    r(
      `froze leader ${frozen} (SIGSTOP): ${podOf(next)} took the expired Lease after ` +
        `${(expiryMs / 1000).toFixed(1)} s (lease duration ${durationS} s); the change made meanwhile was ` +
        `in the StatefulSet after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    // Not before the Lease could have expired (the frozen pod renewed at most a retry period before
    // the freeze), and within its duration plus a retry period and the poll interval.
    expect(expiryMs).toBeGreaterThanOrEqual((durationS - 3) * 1000);
    expect(expiryMs).toBeLessThanOrEqual((durationS + 3) * 1000);

    // The kubelet's liveness probe (3 x 10 s) may already have restarted the frozen container.
    const thaw = await signalContainer(containerId!, 'SIGCONT').then(
      () => 'thawed',
      (err: Error) => `could not thaw (${err.message.slice(0, 120)}); liveness restarts`,
    );
    thawed = true;
    const restarts = (await operatorPods(c.k)).find((p) => p.metadata.name === frozen)?.status
      .containerStatuses?.[0]?.restartCount;
    const tThaw = Date.now();
    // The thawed pod finds the Lease taken and stops leading; the Lease stays with the new leader.
    await eventually(async () => ((await leaderGauge(ops, frozen)) === 0 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 500,
      what: `the thawed ${frozen} to report kvring_operator_leader 0`,
    });
    const after = (await ops.json<LeaseView>(['get', 'lease', name])).spec.holderIdentity ?? '';
    expect(podOf(after)).toBe(standby.metadata.name);
    r(
      `${thaw} ${frozen} (restarts ${restarts ?? '?'}): not leading after ` +
        `${((Date.now() - tThaw) / 1000).toFixed(1)} s; ` +
        `the Lease stayed with ${podOf(after)}`,
    );
    await waitRolledOut(c.demo, 'e2e.kvring.dev/lease-expiry', second.stamp, 240_000);
  } finally {
    if (!thawed) await signalContainer(containerId!, 'SIGCONT').catch(() => undefined);
  }
}
