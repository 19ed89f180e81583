// The latency histogram of the load generator (Node's HDR histogram, 3
// significant figures): its percentiles must match the exact nearest-rank
// percentiles of the samples within the stated error, whatever the
// distribution, and survive the trip from a worker thread, so benchmark
// figures can be trusted.
import { describe, expect, it } from '@jest/globals';
import { MessageChannel } from 'node:worker_threads';
import { latencyHistogram, latencySnapshot, recordLatency, type LatencyHistogram } from '../src/histogram.js';
import { seededRandom as rng } from '@kvring/test-support/prng';

const PERCENTILES = [1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100];

/** The histogram's promise: the rounding to whole µs, plus at most 1/1024 above. */
function expectWithin(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(0.5 + (expected + 0.5) / 1024);
}

function histogramOf(samples: readonly number[]): LatencyHistogram {
  const h = latencyHistogram();
  for (const v of samples) recordLatency(h, v);
  return h;
}

/** `h` after a structured clone, the way a worker thread's reply carries it. */
async function posted(h: LatencyHistogram): Promise<LatencyHistogram> {
  const { port1, port2 } = new MessageChannel();
  try {
    const got = new Promise<LatencyHistogram>((resolve) =>
      port2.once('message', (m: { histogram: LatencyHistogram }) => resolve(m.histogram)),
    );
    port1.postMessage({ histogram: h });
    return await got;
  } finally {
    port1.close();
  }
}

/**
 * The exact percentile of unsorted samples by HDR's rule: the sample of rank
 * round(p/100 * n), at least 1 (the nearest-rank rule rounds up instead: at
 * most one rank apart).
 */
function exactPercentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.floor((p / 100) * sorted.length + 0.5));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

describe('exactPercentile (the reference)', () => {
  it('picks the sample of rank round(p/100 * n)', () => {
    const samples = [15, 20, 35, 40, 50];
    expect(exactPercentile(samples, 5)).toBe(15);
    expect(exactPercentile(samples, 30)).toBe(20);
    expect(exactPercentile(samples, 40)).toBe(20);
    expect(exactPercentile(samples, 50)).toBe(35);
    expect(exactPercentile(samples, 100)).toBe(50);
    expect(exactPercentile([], 50)).toBeNaN();
  });
});

describe('latency histogram (perf_hooks HDR)', () => {
  it('is exact for whole microseconds below 2048', () => {
    const samples = Array.from({ length: 2000 }, (_, i) => i + 1);
    const h = histogramOf(samples);
    for (const p of PERCENTILES) expect(h.percentile(p)).toBe(exactPercentile(samples, p));
    expect(latencySnapshot(h)).toEqual({
      count: 2000,
      min: 1,
      max: 2000,
      mean: 1000.5,
      p50: 1000,
      p95: 1900,
      p99: 1980,
      p999: 1998,
    });
  });

  it.each([
    ['uniform 0..100 ms', (r: () => number) => r() * 100_000],
    ['log-normal around 2 ms', (r: () => number) => Math.exp(Math.log(2000) + 0.8 * gaussian(r))],
    ['bimodal 0.3 ms / 40 ms', (r: () => number) => (r() < 0.9 ? 300 + r() * 50 : 40_000 + r() * 5_000)],
    ['long tail up to 10 s', (r: () => number) => 100 / Math.max(1e-5, r())],
  ])('matches exact percentiles within 0.1%% for %s', (_name, draw) => {
    const r = rng(42);
    const samples = Array.from({ length: 20_000 }, () => draw(r));
    const h = histogramOf(samples);
    for (const p of PERCENTILES) expectWithin(h.percentile(p), exactPercentile(samples, p));
    const snap = latencySnapshot(h);
    expect(snap.count).toBe(samples.length);
    expectWithin(snap.min, Math.min(...samples));
    expectWithin(snap.max, Math.max(...samples));
    expectWithin(snap.mean, samples.reduce((a, b) => a + b, 0) / samples.length);
  });

  it('records values far beyond a benchmark’s range', () => {
    const h = histogramOf([5, 2 ** 50]);
    expectWithin(h.percentile(100), 2 ** 50);
    expect(h.percentile(50)).toBe(5);
  });

  it('adding histograms (as the driver does with its threads’) gives the histogram of all the samples', async () => {
    const r = rng(3);
    const parts = [latencyHistogram(), latencyHistogram(), latencyHistogram()];
    const samples: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const v = r() * 50_000;
      recordLatency(parts[i % 3]!, v);
      samples.push(v);
    }
    const merged = latencyHistogram();
    for (const part of parts) merged.add(await posted(part));
    expect(latencySnapshot(merged)).toEqual(latencySnapshot(histogramOf(samples)));
  });

  it('is empty until something is recorded, and rejects what is not a latency', () => {
    const h = latencyHistogram();
    expect(latencySnapshot(h)).toMatchObject({ count: 0, min: NaN, max: NaN, mean: NaN, p50: NaN });
    expect(() => recordLatency(h, Number.NaN)).toThrow(RangeError);
    expect(() => recordLatency(h, Infinity)).toThrow(RangeError);
    recordLatency(h, -3); // a clock step backwards: counted as the least, 1 µs
    recordLatency(h, 2.4); // rounded to whole µs
    expect([h.count, h.min, h.max]).toEqual([2, 1, 2]);
  });
});

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(1e-12, r()))) * Math.cos(2 * Math.PI * r());
}
