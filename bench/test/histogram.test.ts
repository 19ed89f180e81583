// The latency histogram of the load generator: its percentiles must match
// the exact nearest-rank percentiles of the samples within the stated
// relative error, whatever the distribution, so benchmark figures can be
// trusted.
import { describe, expect, it } from '@jest/globals';
import { LatencyHistogram, exactPercentile } from '../src/histogram.js';
import { seededRandom as rng } from '@kvring/test-support/prng';

const PERCENTILES = [1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100];

/** The histogram's promise: within half a unit, or the relative error of its precision. */
function expectWithin(actual: number, expected: number, relative: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(Math.max(0.5, expected * relative));
}

describe('exactPercentile (nearest rank)', () => {
  it('picks the smallest sample with at least p% of the samples at or below it', () => {
    const samples = [15, 20, 35, 40, 50];
    expect(exactPercentile(samples, 5)).toBe(15);
    expect(exactPercentile(samples, 30)).toBe(20);
    expect(exactPercentile(samples, 40)).toBe(20);
    expect(exactPercentile(samples, 50)).toBe(35);
    expect(exactPercentile(samples, 100)).toBe(50);
    expect(exactPercentile([], 50)).toBeNaN();
  });
});

describe('LatencyHistogram', () => {
  it('has one bucket per microsecond below 128', () => {
    const h = new LatencyHistogram();
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    for (const v of samples) h.record(v);
    // The middle of the sample's bucket, but never above the largest sample.
    for (const p of PERCENTILES)
      expect(h.percentile(p)).toBe(Math.min(100, exactPercentile(samples, p) + 0.5));
    expect(h.snapshot()).toMatchObject({ count: 100, min: 1, max: 100, mean: 50.5, p50: 50.5, p99: 99.5 });
  });

  it.each([
    ['uniform 0..100 ms', (r: () => number) => r() * 100_000],
    ['log-normal around 2 ms', (r: () => number) => Math.exp(Math.log(2000) + 0.8 * gaussian(r))],
    ['bimodal 0.3 ms / 40 ms', (r: () => number) => (r() < 0.9 ? 300 + r() * 50 : 40_000 + r() * 5_000)],
    ['long tail up to 10 s', (r: () => number) => 100 / Math.max(1e-5, r())],
  ])('matches exact percentiles within 1%% for %s', (_name, draw) => {
    const r = rng(42);
    const samples = Array.from({ length: 20_000 }, () => draw(r));
    const h = new LatencyHistogram();
    for (const v of samples) h.record(v);
    for (const p of PERCENTILES) expectWithin(h.percentile(p), exactPercentile(samples, p), 1 / 128);
    const snap = h.snapshot();
    expect(snap.count).toBe(samples.length);
    expect(snap.min).toBe(Math.min(...samples));
    expect(snap.max).toBe(Math.max(...samples));
    expect(snap.mean).toBeCloseTo(samples.reduce((a, b) => a + b, 0) / samples.length, 6);
  });

  it('keeps its error bound at other precisions', () => {
    const r = rng(7);
    const samples = Array.from({ length: 5000 }, () => r() * 1e6);
    for (const precision of [3, 5, 10]) {
      const h = new LatencyHistogram(precision);
      for (const v of samples) h.record(v);
      for (const p of PERCENTILES)
        expectWithin(h.percentile(p), exactPercentile(samples, p), 2 ** -precision);
    }
  });

  it('never reports a percentile outside [min, max], and p0 is the minimum', () => {
    const h = new LatencyHistogram();
    h.record(1000.4);
    h.record(1000.6);
    expect(h.percentile(0)).toBe(1000.4);
    expect(h.percentile(50)).toBeGreaterThanOrEqual(1000.4);
    expect(h.percentile(100)).toBe(1000.6);
  });

  it('records values far beyond its initial range', () => {
    const h = new LatencyHistogram();
    h.record(5);
    h.record(2 ** 50);
    expectWithin(h.percentile(100), 2 ** 50, 1 / 128);
    expect(h.percentile(50)).toBe(5.5);
  });

  it('merging gives the histogram of all the samples', () => {
    const r = rng(3);
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const all = new LatencyHistogram();
    for (let i = 0; i < 3000; i++) {
      const v = r() * 50_000;
      (i % 3 === 0 ? a : b).record(v);
      all.record(v);
    }
    a.merge(b);
    const { mean, ...rest } = a.snapshot();
    const { mean: allMean, ...allRest } = all.snapshot();
    expect(rest).toEqual(allRest);
    expect(mean).toBeCloseTo(allMean, 6); // sums added in another order
    expect(() => a.merge(new LatencyHistogram(5))).toThrow(/precision/);
  });

  it('is empty until something is recorded, and rejects what is not a latency', () => {
    const h = new LatencyHistogram();
    expect(h.count).toBe(0);
    expect(h.percentile(50)).toBeNaN();
    expect(h.snapshot().min).toBeNaN();
    expect(() => h.record(Number.NaN)).toThrow(RangeError);
    expect(() => h.record(Infinity)).toThrow(RangeError);
    expect(() => h.percentile(101)).toThrow(RangeError);
    expect(() => new LatencyHistogram(0)).toThrow(RangeError);
    h.record(-3); // a clock step backwards: counted as 0
    expect(h.percentile(100)).toBe(0);
  });
});

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(1e-12, r()))) * Math.cos(2 * Math.PI * r());
}
