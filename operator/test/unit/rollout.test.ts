import { describe, expect, it } from '@jest/globals';
import type { V1StatefulSet } from '@kubernetes/client-node';
import type { NodeReport } from '../../src/reconcile/node-report.js';
import { planRollout, ringSettled, type RolloutInput } from '../../src/reconcile/rollout.js';

function sts(o: {
  replicas: number;
  partition: number;
  hash: string;
  ready: number;
  updated: number;
  generation?: number;
  observedGeneration?: number;
}): V1StatefulSet {
  return {
    metadata: {
      name: 'demo',
      generation: o.generation ?? 2,
      annotations: { 'kvring.dev/template-hash': o.hash },
    },
    spec: {
      replicas: o.replicas,
      selector: {},
      serviceName: 'demo-peers',
      template: {},
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: o.partition } },
    },
    status: {
      replicas: o.replicas,
      readyReplicas: o.ready,
      updatedReplicas: o.updated,
      observedGeneration: o.observedGeneration ?? o.generation ?? 2,
    },
  };
}

const base: Omit<RolloutInput, 'observed'> = {
  desiredTemplateHash: 'new',
  replicationFactor: 3,
  writeQuorum: 2,
  ringConverged: true,
};

describe('planRollout', () => {
  it('creates a new StatefulSet with every pod on the template at once', () => {
    expect(planRollout({ ...base, observed: undefined })).toMatchObject({ partition: 0, phase: 'Idle' });
  });

  it('a template change first holds every pod at its revision', () => {
    const plan = planRollout({
      ...base,
      observed: sts({ replicas: 3, partition: 0, hash: 'old', ready: 3, updated: 3 }),
    });
    expect(plan).toMatchObject({ partition: 3, phase: 'Started' });
  });

  it('walks the partition down one pod at a time, waiting for each to be replaced and every pod to be ready', () => {
    const steps: [number, string][] = [];
    // Simulated StatefulSet controller: replaces the pods >= partition, one per step.
    let partition = 3;
    let updated = 0;
    let ready = 3;
    for (let i = 0; i < 20 && !(partition === 0 && updated === 3 && ready === 3); i++) {
      const plan = planRollout({
        ...base,
        observed: sts({ replicas: 3, partition, hash: 'new', ready, updated }),
      });
      steps.push([plan.partition, plan.phase]);
      if (plan.partition < partition) {
        partition = plan.partition;
        ready -= 1; // the controller deletes the pod at `partition`
      } else if (updated < 3 - partition) {
        updated += 1; // ...and recreates it on the new revision, not ready yet
      } else if (ready < 3) {
        ready += 1; // ...which then passes its readiness probe
      }
      // Never more than one pod down at a time.
      expect(3 - ready).toBeLessThanOrEqual(1);
    }
    expect(steps).toEqual([
      [2, 'Rolling'],
      [2, 'Waiting'],
      [2, 'Waiting'],
      [1, 'Rolling'],
      [1, 'Waiting'],
      [1, 'Waiting'],
      [0, 'Rolling'],
      [0, 'Idle'],
      [0, 'Idle'],
    ]);
  });

  it('does not release another pod while one is not ready', () => {
    const plan = planRollout({
      ...base,
      observed: sts({ replicas: 5, partition: 3, hash: 'new', ready: 4, updated: 2 }),
    });
    expect(plan).toMatchObject({ partition: 3, phase: 'Waiting' });
    expect(plan.message).toContain('4/5 ready');
  });

  it('waits for the StatefulSet controller to observe the new spec', () => {
    const plan = planRollout({
      ...base,
      observed: sts({
        replicas: 3,
        partition: 3,
        hash: 'new',
        ready: 3,
        updated: 0,
        generation: 5,
        observedGeneration: 4,
      }),
    });
    expect(plan).toMatchObject({ partition: 3, phase: 'Waiting' });
  });

  it('waits for the ring to converge, but goes on when no node can be asked', () => {
    const observed = sts({ replicas: 3, partition: 2, hash: 'new', ready: 3, updated: 1 });
    expect(planRollout({ ...base, observed, ringConverged: false })).toMatchObject({
      partition: 2,
      phase: 'Waiting',
    });
    expect(planRollout({ ...base, observed, ringConverged: undefined })).toMatchObject({
      partition: 1,
      phase: 'Rolling',
    });
  });

  it('never takes a pod down when W = N, and says what to change', () => {
    const plan = planRollout({
      ...base,
      writeQuorum: 3,
      observed: sts({ replicas: 3, partition: 3, hash: 'new', ready: 3, updated: 0 }),
    });
    expect(plan).toMatchObject({ partition: 3, phase: 'Blocked' });
    expect(plan.message).toMatch(/Lower writeQuorum/);
  });
});

describe('ringSettled', () => {
  const report = (pod: string, ringHash: string, ownersDown: string[] = []): NodeReport => ({
    pod,
    reachable: true,
    info: {
      ringHash,
      members: ['demo-0', 'demo-1', 'demo-2'],
      ownersDown,
      postgresReachable: true,
      legacyApiReachable: true,
      draining: false,
      hintsPending: 0,
    },
  });

  it('holds the next pod while a node sees a ring owner down (a replaced pod its peers have not reached again)', () => {
    expect(ringSettled([report('demo-0', 'h'), report('demo-1', 'h'), report('demo-2', 'h')])).toBe(true);
    // demo-2 was just replaced: its own ring is the same at once, but demo-0 still sees it down.
    expect(
      ringSettled([report('demo-0', 'h', ['demo-2']), report('demo-1', 'h'), report('demo-2', 'h')]),
    ).toBe(false);
    expect(ringSettled([report('demo-0', 'h'), report('demo-1', 'other')])).toBe(false);
    expect(ringSettled([{ pod: 'demo-0', reachable: false, error: 'no answer' }])).toBeUndefined();
  });
});
