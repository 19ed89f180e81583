// The arithmetic behind the benchmark's figures: medians over runs, the
// throughput ratio to the reference, CPU read from /proc, fixed-size keys.
import { describe, expect, it } from '@jest/globals';
import { clockTicks, parseProcStat, processTreeCpuMs, selfCpuMs } from '../../src/bench/cpu.js';
import { KeySet } from '../../src/bench/load.js';
import { median, medianRows, renderTable, throughputRatios, type FigureRow } from '../../src/bench/report.js';

function row(
  target: string,
  op: 'set' | 'get',
  opsPerSec: number,
  extra: Partial<FigureRow> = {},
): FigureRow {
  return {
    target,
    op,
    runs: 1,
    ok: 100,
    errors: 0,
    notFound: 0,
    opsPerSec,
    p50Ms: opsPerSec / 1000,
    p95Ms: 2,
    p99Ms: 3,
    maxMs: 4,
    serverCpuMsPerOp: 0.5,
    postgresCpuMsPerOp: null,
    loadgenCpuMsPerOp: 0.1,
    firstError: null,
    truncated: false,
    ...extra,
  };
}

describe('median', () => {
  it('is the middle value, or the mean of the two middle values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
    expect(median([Number.NaN, 5, 1])).toBe(3); // unmeasured runs do not count
  });
});

describe('medianRows', () => {
  it('gives one row per target and op with median figures and summed counts', () => {
    const rows = [
      row('kvring', 'set', 1000),
      row('kvring', 'get', 4000),
      row('kvring', 'set', 3000, { errors: 2, firstError: 'UNAVAILABLE: x' }),
      row('kvring', 'get', 5000),
      row('kvring', 'set', 2000, { serverCpuMsPerOp: 0.9 }),
      row('kvring', 'get', 6000, { truncated: true }),
    ];
    const [set, get, ...rest] = medianRows(rows);
    expect(rest).toEqual([]);
    expect(set).toMatchObject({ op: 'set', runs: 3, opsPerSec: 2000, p50Ms: 2, errors: 2, ok: 300 });
    expect(set!.serverCpuMsPerOp).toBe(0.5);
    expect(set!.postgresCpuMsPerOp).toBeNull();
    expect(set!.firstError).toBe('UNAVAILABLE: x');
    expect(get).toMatchObject({ op: 'get', runs: 3, opsPerSec: 5000, truncated: true });
  });
});

describe('throughputRatios', () => {
  it('divides the target throughput by the reference for each op both have', () => {
    const rows = [row('kvring', 'set', 1000), row('kvring', 'get', 3000), row('noop', 'get', 12000)];
    expect(throughputRatios(rows, 'kvring', 'noop')).toEqual([{ op: 'get', ratio: 0.25 }]);
  });
});

describe('renderTable', () => {
  it('pads text columns on the right and numeric columns on the left', () => {
    const text = renderTable(
      ['name', 'ops/s'],
      [
        ['a', '1,000'],
        ['longer', '5'],
      ],
    );
    expect(text.split('\n')).toEqual(['name    ops/s', 'a       1,000', 'longer      5']);
  });
});

describe('/proc CPU', () => {
  it('parses a stat line whose command holds spaces and parentheses', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
    const line = '4242 (node (worker) 1) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 11 0';
    expect(parseProcStat(line)).toEqual({ pid: 4242, ppid: 17, ticks: 300, childTicks: 10 });
    expect(() => parseProcStat('garbage')).toThrow(/not a \/proc/);
  });

  it('reads this process and grows as it works', () => {
    expect(clockTicks()).toBeGreaterThan(0);
    const before = processTreeCpuMs(process.pid);
    expect(before).toBeDefined();
    let x = 0;
    const until = selfCpuMs() + 30; // burn at least 30 ms of CPU (bounded by the CPU clock)
    for (let i = 0; i < 1e9 && selfCpuMs() < until; i++) x += Math.sqrt(i);
    expect(x).toBeGreaterThan(0);
    expect(processTreeCpuMs(process.pid)!).toBeGreaterThan(before!);
    expect(processTreeCpuMs(2 ** 22 + 12345)).toBeUndefined(); // beyond pid_max: no such process
  });
});

describe('KeySet', () => {
  it('makes distinct keys of exactly the requested size', () => {
    const keys = KeySet.random(16);
    const made = new Set<string>();
    for (const i of [0, 1, 9, 10, 12345, keys.capacity - 1]) {
      const k = keys.key(i);
      expect(Buffer.byteLength(k)).toBe(16);
      made.add(k);
    }
    expect(made.size).toBe(6);
    // Each run has its own prefix, so runs against a live cluster do not share keys.
    expect(KeySet.random(16).prefix).not.toBe(keys.prefix);
    expect(() => new KeySet('prefix:', 7)).toThrow(/no room/);
  });
});
