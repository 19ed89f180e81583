// Counting answers towards a quorum. Pure bookkeeping, no I/O, so the rules
// (when to resolve, when the quorum has become unreachable) are unit-tested
// on their own.

/**
 * Waits for `need` successes out of `total` attempts. Resolves as soon as
 * the quorum is reached; rejects as soon as the failures leave too few
 * attempts to reach it. Late answers after either are ignored by the caller.
 */
export class QuorumCounter {
  ok = 0;
  failed = 0;
  private settled = false;

  constructor(
    readonly need: number,
    readonly total: number,
    private readonly onReached: () => void,
    private readonly onImpossible: () => void,
  ) {}

  /** Call once after wiring all attempts (covers need 0 and total < need). */
  start(): void {
    this.check();
  }

  success(): void {
    this.ok++;
    this.check();
  }

  failure(): void {
    this.failed++;
    this.check();
  }

  get done(): boolean {
    return this.settled;
  }

  private check(): void {
    if (this.settled) return;
    if (this.ok >= this.need) {
      this.settled = true;
      this.onReached();
    } else if (this.total - this.failed < this.need) {
      this.settled = true;
      this.onImpossible();
    }
  }
}

export interface VersionedAnswer {
  readonly found: boolean;
  readonly version: number;
}

/** Index of the answer holding the highest version, or -1 when none holds the key. */
export function highestVersion(answers: readonly VersionedAnswer[]): number {
  let best = -1;
  for (let i = 0; i < answers.length; i++) {
    const a = answers[i]!;
    if (a.found && (best < 0 || a.version > answers[best]!.version)) best = i;
  }
  return best;
}

/** Answers that already hold `version`: they count towards the write quorum of a read's winner. */
export function holdersOf(answers: readonly VersionedAnswer[], version: number): number {
  let n = 0;
  for (const a of answers) if (a.found && a.version === version) n++;
  return n;
}
