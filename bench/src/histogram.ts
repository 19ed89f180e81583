// The load generator's latency histograms: Node's own HDR histogram
// (perf_hooks.createHistogram, HdrHistogram_c underneath). Values are
// microseconds, in a fixed amount of memory however many samples a benchmark
// records, kept to 3 significant figures: a percentile, min or max comes back
// at most 1/1024 above the recorded value (exact below 2048 µs). The value
// at percentile p is that of the sample of rank round(p/100 * count) (at
// least 1), in sorted order. Worker
// threads post their histograms as they are (a RecordableHistogram survives
// structured cloning) and the driver adds them up (`add`).
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

export type LatencyHistogram = RecordableHistogram;

export interface HistogramSnapshot {
  readonly count: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly p999: number;
}

export const SIGNIFICANT_FIGURES = 3;

export function latencyHistogram(): LatencyHistogram {
  return createHistogram({ figures: SIGNIFICANT_FIGURES });
}

/**
 * Records one latency in µs. HDR counts whole units from 1: a fraction is
 * rounded, and anything below 1 µs (a clock step backwards too) counts as 1.
 */
export function recordLatency(h: LatencyHistogram, us: number): void {
  if (!Number.isFinite(us)) throw new RangeError(`cannot record ${us}`);
  h.record(Math.max(1, Math.round(us)));
}

/** count, min, max, mean and the percentiles the report prints (NaN when empty). */
export function latencySnapshot(h: LatencyHistogram): HistogramSnapshot {
  const at = (p: number): number => (h.count === 0 ? Number.NaN : h.percentile(p));
  return {
    count: h.count,
    min: h.count === 0 ? Number.NaN : h.min,
    max: h.count === 0 ? Number.NaN : h.max,
    mean: h.count === 0 ? Number.NaN : h.mean,
    p50: at(50),
    p95: at(95),
    p99: at(99),
    p999: at(99.9),
  };
}
