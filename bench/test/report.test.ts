// The arithmetic behind the benchmark's figures: medians over runs, the
// throughput ratio to the reference, CPU read from /proc, fixed-size keys,
// and how the parts of a threaded load add up.
import { describe, expect, it } from '@jest/globals';
import { clockTicks, parseProcStat, processTreeCpuMs, selfCpuMs } from '../src/cpu.js';
import { split } from '../src/driver.js';
import { latencyHistogram, latencySnapshot, recordLatency } from '../src/histogram.js';
import { KeySet, mergeResults, type LoadResult } from '../src/load.js';
import {
  formatFigures,
  formatRatios,
  median,
  medianRows,
  renderTable,
  throughputRatios,
  type FigureRow,
} from '../src/report.js';

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
    serverCores: 1,
    loadgenCores: 0.5,
    firstError: null,
    truncated: false,
    server: null,
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
  it('divides throughput and CPU per op by the reference, for each op both have', () => {
    const rows = [
      row('kvring', 'set', 1000),
      row('kvring', 'get', 3000, { serverCpuMsPerOp: 0.3, postgresCpuMsPerOp: 0.1 }),
      row('noop', 'get', 12000, { serverCpuMsPerOp: 0.1 }),
    ];
    const [get, ...rest] = throughputRatios(rows, 'kvring', 'noop');
    expect(rest).toEqual([]);
    expect(get!.op).toBe('get');
    expect(get!.ratio).toBe(0.25);
    expect(get!.cpuRatio).toBeCloseTo(3, 9);
    expect(get!.cpuRatioWithPostgres).toBeCloseTo(4, 9);
    expect(formatRatios([get!], 'kvring', 'noop')).toBe(
      "kvring throughput as a share of the noop server's: GET 25.0%\n" +
        "kvring server CPU per operation over the noop server's: GET 3.0x (4.0x with PostgreSQL)",
    );
    const unmeasured = throughputRatios(
      [row('a', 'set', 1, { serverCpuMsPerOp: null }), row('b', 'set', 2)],
      'a',
      'b',
    );
    expect(unmeasured).toEqual([{ op: 'set', ratio: 0.5, cpuRatio: null, cpuRatioWithPostgres: null }]);
  });
});

describe('formatFigures', () => {
  it('says when a row is bounded by the load generator', () => {
    const busy = formatFigures([row('kvring', 'get', 5000, { loadgenCores: 0.95 })], 1);
    expect(busy).toMatch(/kvring GET: the load generator kept 0\.95 of its 1 thread\(s\) busy/);
    expect(formatFigures([row('kvring', 'get', 5000, { loadgenCores: 0.95 })], 2)).not.toMatch(/bounded/);
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

describe('threaded load: splitting and merging', () => {
  it('splits work into near-equal integer shares', () => {
    expect(split(50, 3)).toEqual([17, 17, 16]);
    expect(split(2, 4)).toEqual([1, 1, 0, 0]);
    expect(split(20_000, 2).reduce((a, b) => a + b, 0)).toBe(20_000);
  });

  it('merges the parts of a phase: counts added, histograms combined, rate over the longest part', () => {
    const part = (values: number[], elapsedMs: number, errors: number, first?: string) => {
      const histogram = latencyHistogram();
      for (const v of values) recordLatency(histogram, v);
      const result: LoadResult = {
        op: 'get',
        ok: values.length,
        errors,
        errorsByCode: errors > 0 ? { UNAVAILABLE: errors } : {},
        firstError: first,
        notFound: 1,
        elapsedMs,
        opsPerSec: 0,
        latencyUs: latencySnapshot(histogram),
        truncated: false,
      };
      // Sent between threads as it is (structured clone).
      return { result, histogram: structuredClone(histogram) };
    };
    const merged = mergeResults(
      [part([100, 200, 300], 1000, 0), part([400, 500, 600, 700], 2000, 2, 'UNAVAILABLE: gone')],
      9,
    );
    expect(merged).toMatchObject({
      op: 'get',
      ok: 7,
      errors: 2,
      errorsByCode: { UNAVAILABLE: 2 },
      firstError: 'UNAVAILABLE: gone',
      notFound: 2,
      elapsedMs: 2000,
      opsPerSec: 3.5,
      truncated: false,
    });
    expect(merged.latencyUs.min).toBe(100);
    expect(merged.latencyUs.max).toBe(700);
    expect(merged.latencyUs.p50).toBeCloseTo(400, -1);
    expect(mergeResults([part([1], 10, 0)], 5).truncated).toBe(true);
  });
});
