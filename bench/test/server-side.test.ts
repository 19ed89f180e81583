// The bench's server-side figures and the open-loop arithmetic: Prometheus
// text read back, growth per entry and batching means, CPU profiles summed
// by area, and latency measured from the schedule (coordinated omission).
import { describe, expect, it } from '@jest/globals';
import { KeySet } from '../src/load.js';
import type { LoadClient } from '../src/clients.js';
import { runOpenLoop } from '../src/open-loop.js';
import { areaOf, hotAreas, hotFunctions } from '../src/profile.js';
import { metricValue, redisInfoField, serverSide } from '../src/server-stats.js';

const PROM = [
  '# HELP kvring_cache_entries entries',
  'kvring_cache_entries 1200',
  'kvring_cache_entries_other 5',
  'kvring_peer_frame_operations_sum{peer="a"} 30',
  'kvring_peer_frame_operations_sum{peer="b"} 10',
  'kvring_peer_frame_operations_count{peer="a"} 4',
].join('\n');

describe('server stats', () => {
  it('reads a sample by its exact name, summing label sets', () => {
    expect(metricValue(PROM, 'kvring_cache_entries')).toBe(1200);
    expect(metricValue(PROM, 'kvring_peer_frame_operations_sum')).toBe(40);
    expect(metricValue(PROM, 'kvring_missing')).toBeUndefined();
    expect(redisInfoField('# Memory\r\nused_memory_dataset:4096\r\n', 'used_memory_dataset')).toBe(4096);
  });

  it('divides growth by the entries added and batching sums by frames', () => {
    const s = serverSide(
      {
        entries: 100,
        rssBytes: 1000,
        heapBytes: 500,
        accountedBytes: 0,
        peerFrameOps: { sum: 10, count: 2 },
        postgresBatch: { sum: 0, count: 0 },
      },
      {
        entries: 1100,
        rssBytes: 301_000,
        heapBytes: 200_500,
        accountedBytes: 400_000,
        peerFrameOps: { sum: 110, count: 6 },
        postgresBatch: { sum: 0, count: 0 },
      },
    );
    expect(s).toMatchObject({
      entriesAdded: 1000,
      rssBytesPerEntry: 300,
      heapBytesPerEntry: 200,
      accountedBytesPerEntry: 400,
      peerOpsPerFrame: 25,
      postgresWritesPerFlush: null,
    });
  });
});

describe('cpu profile summary', () => {
  const profile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(idle)', url: '', lineNumber: 0 } },
      {
        id: 2,
        callFrame: {
          functionName: 'write',
          url: 'file:///x/node/dist/cluster/coordinator.js',
          lineNumber: 9,
        },
      },
      {
        id: 3,
        callFrame: {
          functionName: 'sendMessage',
          url: 'file:///x/node_modules/@grpc/grpc-js/build/src/server.js',
          lineNumber: 0,
        },
      },
    ],
    samples: [1, 2, 3, 3, 1],
    timeDeltas: [5000, 1000, 1000, 1000, 5000],
    startTime: 0,
  };

  it('names the area of a frame', () => {
    expect(areaOf('node:internal/http2/core', 'f')).toBe('node:http2');
    expect(areaOf('file:///w/node_modules/pg/lib/client.js', 'f')).toBe('pg');
    expect(areaOf('', '(garbage collector)')).toBe('(garbage collector)');
  });

  it('shares self time among busy samples, idle left out', () => {
    expect(hotAreas([profile]).map((a) => [a.where, Math.round(a.selfShare * 3)])).toEqual([
      ['@grpc/grpc-js', 2],
      ['kvring node', 1],
    ]);
    expect(hotFunctions([profile], 1)[0]!.where).toMatch(/^sendMessage \(@grpc\/grpc-js/);
  });

  it('counts only the samples inside a window of the monotonic clock', () => {
    // Samples end at 5000, 6000, 7000, 8000, 13000 µs after startTime.
    expect(hotAreas([profile], { fromUs: 6500, toUs: 8000 }).map((a) => [a.where, a.selfMs])).toEqual([
      ['@grpc/grpc-js', 2],
    ]);
  });
});

describe('open loop', () => {
  it('measures latency from the scheduled start, so a stalled generator shows in it (no coordinated omission)', async () => {
    let calls = 0;
    const client: LoadClient = {
      set: () => Promise.resolve(),
      get: () => {
        // The 11th operation blocks the generator's event loop for 100 ms:
        // the operations scheduled meanwhile are sent late.
        if (++calls === 11) {
          const until = performance.now() + 100;
          while (performance.now() < until);
        }
        return Promise.resolve(true);
      },
      warmUp: () => Promise.resolve(),
      close: () => undefined,
    };
    const r = await runOpenLoop(
      { forWorker: () => client },
      { op: 'get', rate: 1000, ops: 200, keys: new KeySet('t:', 8), valueSize: 0 },
    );
    expect(r.ok).toBe(200);
    expect(r.latencyUs.max).toBeGreaterThanOrEqual(90_000);
    // Every send answered at once: the service time never saw the stall.
    expect(r.serviceUs.max).toBeLessThan(r.latencyUs.max);
  });
});
