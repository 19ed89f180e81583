// Detection of a version regression: PostgreSQL handing out versions at or
// below ones it already committed, because it lost commits (a restore from a
// backup, a failover to an asynchronous standby). Replicas then refuse the
// lower versions yet answer OK, so without this check acknowledged writes
// would silently stay invisible and anti-entropy (which only moves versions
// up) would never repair them.
//
// Two detectors, both relying on the DurableStore contract (one sequence:
// a write that starts after another's commit gets a higher version):
// - node: the write's version is not above the highest version PostgreSQL
//   returned to this node before the write began;
// - replica: a replica refused the fresh write because it holds a higher
//   version of the key, and PostgreSQL's current version of the key is below
//   that one (a concurrent newer write would be in PostgreSQL).
import { PeerStatus, type PeerResult } from '../gen/kvring/v1/peer.js';
import { VersionRegressionError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../metrics.js';
import type { ReplicaHandle } from './replica.js';

export type Detector = 'node' | 'replica' | 'read';

export interface Regression {
  readonly key: string;
  /** The version PostgreSQL gave this write. */
  readonly version: number;
  /** The higher version seen before: by this node, or held by a replica. */
  readonly seen: number;
  readonly detector: Detector;
  /** The replica that holds `seen` (detector 'replica'). */
  readonly replica?: string;
  /** False when found after the write was already acknowledged (a late replica answer). */
  readonly refused: boolean;
}

const LOG_EVERY_MS = 1000;

/** How far README's recovery advances the sequence (setval H + 1,000,000): the operator's word that it is over. */
export const RECOVERY_MARGIN = 1_000_000;

/** Counts, logs (at most once a second, with how many were not logged) and builds the error. */
export class RegressionReporter {
  private lastLog = -Infinity;
  private unlogged = 0;
  /**
   * Fail closed: once PostgreSQL is known to have lost commits, what it
   * answers is suspect, and a read that serves it would be stale without
   * saying so. Until a write gets a version above every version seen
   * (the operator advanced the sequence: README, "Version regression"),
   * reads that would need PostgreSQL's answer (a replica missed) fail with
   * VERSION_REGRESSION; reads every asked replica answers are served (a
   * replica never holds a version PostgreSQL did not commit at the time).
   * 0 = no regression outstanding.
   */
  private fence = 0;

  /** A regression is outstanding: reads must not serve what PostgreSQL says. */
  get regressed(): boolean {
    return this.fence > 0;
  }

  /**
   * A write PostgreSQL committed at `version`. The regression is over only
   * when the operator has advanced the sequence as README's recovery says
   * (by RECOVERY_MARGIN above every version seen): the sequence also climbs
   * past the fence by itself as refused writes consume it, but the rows
   * PostgreSQL lost are no less lost then, and reads that need PostgreSQL
   * would serve its older values without a word.
   */
  committed(version: number): void {
    if (this.fence > 0 && version > this.fence + RECOVERY_MARGIN) {
      this.log.warn(
        { version, fence: this.fence },
        'version regression over: the version sequence was advanced past every version seen',
      );
      this.fence = 0;
    }
  }

  /** The error every read gets while a regression is outstanding. */
  readRefusal(): VersionRegressionError {
    return new VersionRegressionError(
      `PostgreSQL has lost commits (a version regression was detected; versions up to ${this.fence} were seen): ` +
        'reads fail rather than serve values that may be older than acknowledged writes, until the version ' +
        'sequence is advanced (README, "Version regression")',
    );
  }

  constructor(
    private readonly log: Logger,
    private readonly metrics: NodeMetrics,
  ) {
    // Both series from the start, so increase() sees the first regression.
    for (const detector of ['node', 'replica', 'read'] as const)
      metrics.versionRegressions.inc({ detector }, 0);
  }

  report(r: Regression): VersionRegressionError {
    this.metrics.versionRegressions.inc({ detector: r.detector });
    this.fence = Math.max(this.fence, r.seen);
    const message =
      r.detector === 'read'
        ? `PostgreSQL's version sequence is at ${r.version}, below version ${r.seen} this node saw committed: ` +
          'PostgreSQL has lost commits (restored from a backup, or failed over to an asynchronous standby). ' +
          'Reads that need its answer fail, and writes fail, until the version sequence is advanced above every ' +
          'version replicas hold (README, "Version regression")'
        : `PostgreSQL gave this write version ${r.version}, but ${
            r.detector === 'node'
              ? `this node saw version ${r.seen} committed before the write began`
              : `replica ${r.replica ?? '?'} holds version ${r.seen} of the key, which PostgreSQL no longer has`
          }: PostgreSQL has lost commits ` +
          '(restored from a backup, or failed over to an asynchronous standby). The write is committed in ' +
          'PostgreSQL but NOT acknowledged, and writes keep failing until the version sequence is advanced ' +
          'above every version replicas hold (README, "Version regression")';
    const now = performance.now();
    if (now - this.lastLog >= LOG_EVERY_MS) {
      this.log.error(
        { ...r, notLogged: this.unlogged },
        `version regression: ${message}; to recover, run SELECT setval('<table>_version_seq', H) with H above ` +
          'max(kvring_version_high_water) of every pod and every version named in these messages',
      );
      this.lastLog = now;
      this.unlogged = 0;
    } else this.unlogged++;
    return new VersionRegressionError(message);
  }
}

/**
 * The handles of `targets`, each reporting to `onRefused` a fresh write it
 * did not apply because it holds a higher version than `version`.
 */
export function watchRefusals(
  targets: readonly ReplicaHandle[],
  version: number,
  onRefused: (replica: string, held: number) => void,
): ReplicaHandle[] {
  const check = (name: string, r: PeerResult): PeerResult => {
    if (r.status === PeerStatus.PEER_STATUS_OK && !r.applied && r.version > version)
      onRefused(name, r.version);
    return r;
  };
  return targets.map((h) => ({
    get name() {
      return h.name;
    },
    get isSelf() {
      return h.isSelf;
    },
    get up() {
      return h.up;
    },
    get incarnation() {
      return h.incarnation;
    },
    read: (key) => h.read(key),
    legacyFetch: (key) => h.legacyFetch(key),
    write: (w, inc, cause) => h.write(w, inc, cause).then((r) => check(h.name, r)),
  }));
}
