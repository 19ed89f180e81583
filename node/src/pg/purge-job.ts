// The background purge of a node: a run every interval (with jitter, so the
// nodes of a cluster do not all try at once); the advisory lock in the run
// lets one node purge at a time. Failures are logged and retried next time:
// nothing but disk space waits on the purge.
import type { Logger } from 'pino';
import type { NodeMetrics } from '../metrics.js';
import type { LegacyLookup, PurgeOutcome, PurgeParams } from './purge.js';

export interface PurgeJobOptions {
  readonly intervalMs: number;
  readonly horizonMs: number;
  readonly batch: number;
  readonly legacyHas?: LegacyLookup;
}

/** Statements of one kind per run: bounds a run to 20 × batch rows per kind. */
const MAX_BATCHES = 20;

export class PurgeJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(
    private readonly store: { purge(p: Omit<PurgeParams, 'idempotencyTtlMs'>): Promise<PurgeOutcome> },
    private readonly opts: PurgeJobOptions,
    private readonly log: Logger,
    private readonly metrics: NodeMetrics,
  ) {}

  start(): void {
    if (this.stopped) return;
    const delay = this.opts.intervalMs * (0.5 + Math.random());
    this.timer = setTimeout(() => {
      this.running = this.runOnce().finally(() => this.start());
    }, delay);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One attempt; resolves with the outcome, or undefined when it failed (logged). */
  async runOnce(): Promise<PurgeOutcome | undefined> {
    const started = performance.now();
    const { horizonMs, batch, legacyHas } = this.opts;
    try {
      const out = await this.store.purge({ horizonMs, batch, maxBatches: MAX_BATCHES, legacyHas });
      if (!out.ran) {
        this.metrics.purgeRuns.inc({ outcome: 'locked' });
        return out;
      }
      const { counts } = out;
      this.metrics.purgeRuns.inc({ outcome: 'ran' });
      this.metrics.purgeLastDuration.set((performance.now() - started) / 1000);
      this.metrics.purgedRows.inc({ kind: 'tombstone' }, counts.tombstones);
      this.metrics.purgedRows.inc({ kind: 'expired' }, counts.expired);
      this.metrics.purgedRows.inc({ kind: 'idempotency' }, counts.idempotency);
      this.metrics.purgedRows.inc({ kind: 'legacy_kept' }, counts.legacyKept);
      if (counts.tombstones + counts.expired + counts.idempotency + counts.legacyKept > 0)
        this.log.info({ ...counts, ms: Math.round(performance.now() - started) }, 'purged old rows');
      return out;
    } catch (err) {
      this.metrics.purgeRuns.inc({ outcome: 'failed' });
      this.log.warn({ err: (err as Error).message }, 'purge run failed; retrying next interval');
      return undefined;
    }
  }
}
