// Warm-restart Events (reconcile/warm-events.ts): one per pod process,
// Normal or Warning by how the warm-up ended, none for a disabled one.
import { describe, expect, it } from '@jest/globals';
import type { NodeReport, WarmupInfo } from '../../src/reconcile/node-report.js';
import { WarmupEvents } from '../../src/reconcile/warm-events.js';

function report(pod: string, incarnation: string, warmup?: Partial<WarmupInfo>): NodeReport {
  return {
    pod,
    reachable: true,
    info: {
      ringHash: 'r',
      members: [pod],
      postgresReachable: true,
      legacyApiReachable: false,
      draining: false,
      hintsPending: 0,
      incarnation,
      ...(warmup && {
        warmup: {
          keys: 4000,
          bytes: 2_000_000,
          durationMs: 1700,
          source: 'postgres',
          stopped: 'done',
          ...warmup,
        },
      }),
    },
  };
}

describe('warm-restart events', () => {
  it('tells each pod process once, by how its warm-up ended', () => {
    const w = new WarmupEvents();
    expect(w.fresh('ns/demo', [report('demo-0', 'a', {}), report('demo-1', 'b')])).toEqual([
      {
        type: 'Normal',
        reason: 'WarmRestart',
        note: 'demo-0 loaded 4000 hot keys (2000000 bytes) from postgres in 1.7 s before it reported ready (stopped: done)',
      },
    ]);
    // Seen already; demo-1 finished its warm-up meanwhile (time bound).
    const next = w.fresh('ns/demo', [report('demo-0', 'a', {}), report('demo-1', 'b', { stopped: 'time' })]);
    expect(next.map((e) => [e.type, e.reason])).toEqual([['Warning', 'WarmRestartIncomplete']]);
    // demo-0 restarted: a new incarnation is told again; a disabled warm-up is not.
    expect(w.fresh('ns/demo', [report('demo-0', 'c', { keys: 10 })])).toHaveLength(1);
    expect(w.fresh('ns/demo', [report('demo-0', 'd', { stopped: 'disabled' })])).toEqual([]);
  });
});
