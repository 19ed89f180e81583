import { describe, expect, it } from '@jest/globals';
import { planScale, type ScaleInput } from '../../src/reconcile/scale-down.js';

const base: ScaleInput = {
  desired: 3,
  current: 3,
  previous: undefined,
  statefulSetName: 'demo',
  drainedNow: [],
  now: '2026-01-01T00:00:00Z',
};

describe('planScale', () => {
  it('creates and scales up directly', () => {
    expect(planScale({ ...base, current: undefined })).toMatchObject({
      phase: 'Steady',
      statefulSetReplicas: 3,
    });
    expect(planScale({ ...base, desired: 5 })).toMatchObject({ phase: 'ScalingUp', statefulSetReplicas: 5 });
  });

  it('keeps the StatefulSet at its size until every leaving pod drained', () => {
    const p1 = planScale({ ...base, desired: 3, current: 5 });
    expect(p1).toMatchObject({
      phase: 'Draining',
      statefulSetReplicas: 5,
      leaving: ['demo-3', 'demo-4'],
      pending: ['demo-3', 'demo-4'],
      status: { from: 5, to: 3, drained: [], startedAt: base.now },
    });
    const p2 = planScale({ ...base, desired: 3, current: 5, previous: p1.status, drainedNow: ['demo-4'] });
    expect(p2).toMatchObject({ phase: 'Draining', statefulSetReplicas: 5, pending: ['demo-3'] });
    expect(p2.status!.drained).toEqual(['demo-4']);
    const p3 = planScale({
      ...base,
      desired: 3,
      current: 5,
      previous: p2.status,
      drainedNow: ['demo-3'],
      now: '2026-01-01T00:10:00Z',
    });
    expect(p3).toMatchObject({ phase: 'ScalingDown', statefulSetReplicas: 3, pending: [] });
    expect(p3.status!.startedAt).toBe(base.now);
    // Once the StatefulSet shrank the scale-down record is cleared.
    expect(planScale({ ...base, desired: 3, current: 3, previous: p3.status })).toMatchObject({
      phase: 'Steady',
      status: undefined,
    });
  });

  it('restarts the drains when the target changes mid-way (keys went to pods now leaving too)', () => {
    const p1 = planScale({ ...base, desired: 4, current: 5, drainedNow: ['demo-4'] });
    expect(p1.phase).toBe('ScalingDown');
    const p2 = planScale({ ...base, desired: 3, current: 5, previous: p1.status });
    expect(p2).toMatchObject({ phase: 'Draining', pending: ['demo-3', 'demo-4'] });
  });

  it('a scale back up cancels the drain', () => {
    const p1 = planScale({ ...base, desired: 3, current: 5 });
    expect(planScale({ ...base, desired: 5, current: 5, previous: p1.status })).toMatchObject({
      phase: 'Steady',
      statefulSetReplicas: 5,
      status: undefined,
    });
  });
});
