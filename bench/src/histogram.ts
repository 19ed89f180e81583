// A latency histogram in the manner of HdrHistogram: values (microseconds)
// fall into log-linear buckets (below 2^precision one bucket per unit; above,
// each power of two split into 2^(precision-1) equal buckets) and a bucket
// is reported as its middle, so a value comes back within 0.5 or a relative
// error of 2^-precision (under 1% at the default 7), in a fixed amount of
// memory however many samples a benchmark records. Exact min, max, count
// and sum are kept on the side.

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

/** Everything a histogram holds, as plain data (to send between threads). */
export interface HistogramState {
  readonly precision: number;
  readonly counts: Float64Array;
  readonly total: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
}

export class LatencyHistogram {
  /** Sub-buckets per power of two. */
  private readonly subCount: number;
  private readonly subBits: number;
  private counts: Float64Array;
  private total = 0;
  private sum = 0;
  private minValue = Number.POSITIVE_INFINITY;
  private maxValue = 0;

  /**
   * @param precision 1..12: values are reproduced within max(0.5, value * 2^-precision).
   */
  constructor(precision = 7) {
    if (!Number.isInteger(precision) || precision < 1 || precision > 12)
      throw new RangeError(`histogram precision must be an integer 1..12, got ${precision}`);
    this.subBits = precision;
    this.subCount = 1 << precision;
    // Up to 2^40 µs (~12 days) with room to spare; grown on demand past that.
    this.counts = new Float64Array(this.subCount * 34);
  }

  get count(): number {
    return this.total;
  }

  /** Records one value (negative values count as 0; fractions are kept in min/max/sum). */
  record(value: number): void {
    if (!Number.isFinite(value)) throw new RangeError(`cannot record ${value}`);
    const v = Math.max(0, value);
    const idx = this.indexOf(v);
    if (idx >= this.counts.length) this.grow(idx + 1);
    this.counts[idx]! += 1;
    this.total += 1;
    this.sum += v;
    if (v < this.minValue) this.minValue = v;
    if (v > this.maxValue) this.maxValue = v;
  }

  toState(): HistogramState {
    return {
      precision: this.subBits,
      counts: this.counts.slice(),
      total: this.total,
      sum: this.sum,
      min: this.minValue,
      max: this.maxValue,
    };
  }

  static fromState(state: HistogramState): LatencyHistogram {
    const h = new LatencyHistogram(state.precision);
    h.counts = Float64Array.from(state.counts);
    h.total = state.total;
    h.sum = state.sum;
    h.minValue = state.min;
    h.maxValue = state.max;
    return h;
  }

  /** Adds every sample of `other` (which must have the same precision). */
  merge(other: LatencyHistogram): void {
    if (other.subBits !== this.subBits)
      throw new RangeError('cannot merge histograms of different precision');
    if (other.counts.length > this.counts.length) this.grow(other.counts.length);
    for (let i = 0; i < other.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.sum += other.sum;
    this.minValue = Math.min(this.minValue, other.minValue);
    this.maxValue = Math.max(this.maxValue, other.maxValue);
  }

  /**
   * The value at percentile `p` (0..100) by the nearest-rank rule: the
   * smallest recorded value v such that at least p% of the samples are <= v,
   * as reproduced by its bucket (never outside [min, max]). NaN when empty.
   */
  percentile(p: number): number {
    if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
    if (this.total === 0) return Number.NaN;
    if (p === 0) return this.minValue;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.maxValue, Math.max(this.minValue, this.representative(i)));
    }
    return this.maxValue;
  }

  snapshot(): HistogramSnapshot {
    const empty = this.total === 0;
    return {
      count: this.total,
      min: empty ? Number.NaN : this.minValue,
      max: empty ? Number.NaN : this.maxValue,
      mean: empty ? Number.NaN : this.sum / this.total,
      p50: this.percentile(50),
      p95: this.percentile(95),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
    };
  }

  /**
   * Bucket of `v`: values below subCount get a bucket each (exact integers);
   * above, the power of two `m` of v selects a run of subCount/2 buckets of
   * width 2^(m - subBits + 1).
   */
  private indexOf(v: number): number {
    const n = Math.floor(v);
    if (n < this.subCount) return n;
    const magnitude = Math.floor(Math.log2(n)); // >= subBits
    const shift = magnitude - this.subBits + 1;
    const sub = Math.floor(n / 2 ** shift); // in [subCount/2, subCount)
    return this.subCount + (shift - 1) * (this.subCount / 2) + (sub - this.subCount / 2);
  }

  /** The middle of bucket `i`, whose values span [low, low + width). */
  private representative(i: number): number {
    if (i < this.subCount) return i + 0.5;
    const half = this.subCount / 2;
    const shift = Math.floor((i - this.subCount) / half) + 1;
    const sub = ((i - this.subCount) % half) + half;
    const width = 2 ** shift;
    return sub * width + width / 2;
  }

  private grow(length: number): void {
    const next = new Float64Array(Math.max(length, this.counts.length * 2));
    next.set(this.counts);
    this.counts = next;
  }
}

/** Exact nearest-rank percentile of unsorted samples (reference for tests and small runs). */
export function exactPercentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  if (p <= 0) return sorted[0]!;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}
