// The history of one scenario: every operation as it was invoked and how it
// completed (ok, fail = certainly not applied, info = in doubt), plus the
// faults, with monotonic timestamps in nanoseconds since the run started.
// One JSON object per line, so a crash mid-run still leaves a readable
// file; tools/porcupine reads the same format.
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';

export type OpKind = 'write' | 'delete' | 'read';
export type Outcome = 'ok' | 'fail' | 'info';

export interface InvokeEvent {
  readonly type: 'invoke';
  readonly id: number;
  readonly proc: number;
  readonly t: number;
  readonly f: OpKind;
  readonly key: string;
  /** Written value (writes only). */
  readonly value?: string;
  /** TTL of a write; keys that ever get one are not checked as registers. */
  readonly ttlMs?: number;
  /** Member name of the coordinator the request went to. */
  readonly node: string;
}

export interface CompleteEvent {
  readonly type: Outcome;
  readonly id: number;
  readonly proc: number;
  readonly t: number;
  readonly f: OpKind;
  readonly key: string;
  /** Reads: whether a value came back, and which. */
  readonly found?: boolean;
  readonly value?: string;
  /** Version returned by an acknowledged write/delete or a successful read. */
  readonly version?: number;
  /** gRPC status name and message of a failure. */
  readonly error?: string;
}

/** The state a key starts in, when not absent (legacy keys). */
export interface InitEvent {
  readonly type: 'init';
  readonly key: string;
  readonly value: string;
}

export interface FaultEvent {
  readonly type: 'fault';
  readonly id: number;
  readonly t: number;
  readonly fault: string;
}

export interface HealEvent {
  readonly type: 'heal';
  readonly id: number;
  readonly t: number;
}

export type HistoryEvent = InvokeEvent | CompleteEvent | InitEvent | FaultEvent | HealEvent;

/** One operation with its completion (undefined when the run ended first). */
export interface Operation {
  readonly invoke: InvokeEvent;
  readonly complete: CompleteEvent | undefined;
}

/** Writes the history file and hands out op ids and timestamps. */
export class HistoryRecorder {
  private readonly out: WriteStream;
  private readonly t0 = process.hrtime.bigint();
  private nextOp = 1;
  private nextFault = 1;
  private closing: Promise<void> | undefined;
  readonly events: HistoryEvent[] = [];

  constructor(readonly file: string) {
    this.out = createWriteStream(file, { flags: 'w' });
  }

  /** Nanoseconds since the recorder was created (monotonic). */
  now(): number {
    return Number(process.hrtime.bigint() - this.t0);
  }

  init(key: string, value: string): void {
    this.emit({ type: 'init', key, value });
  }

  invoke(op: Omit<InvokeEvent, 'type' | 'id' | 't'>): InvokeEvent {
    const e: InvokeEvent = { type: 'invoke', id: this.nextOp++, t: this.now(), ...op };
    this.emit(e);
    return e;
  }

  complete(inv: InvokeEvent, type: Outcome, extra: Partial<CompleteEvent> = {}): CompleteEvent {
    const e: CompleteEvent = {
      type,
      id: inv.id,
      proc: inv.proc,
      t: this.now(),
      f: inv.f,
      key: inv.key,
      ...extra,
    };
    this.emit(e);
    return e;
  }

  /** Records the start of a fault; call the returned function when it is healed. */
  fault(description: string): () => void {
    const id = this.nextFault++;
    this.emit({ type: 'fault', id, t: this.now(), fault: description });
    let healed = false;
    return () => {
      if (healed) return;
      healed = true;
      this.emit({ type: 'heal', id, t: this.now() });
    };
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  }

  private emit(e: HistoryEvent): void {
    this.events.push(e);
    if (this.closing === undefined) this.out.write(`${JSON.stringify(e)}\n`);
  }
}

/** Reads a history file back (for the checker and its tests). */
export function readHistory(file: string): HistoryEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as HistoryEvent);
}

/** Pairs invocations with their completions, in invocation order. */
export function operations(events: readonly HistoryEvent[]): Operation[] {
  const done = new Map<number, CompleteEvent>();
  for (const e of events) if (e.type === 'ok' || e.type === 'fail' || e.type === 'info') done.set(e.id, e);
  const ops: Operation[] = [];
  for (const e of events) if (e.type === 'invoke') ops.push({ invoke: e, complete: done.get(e.id) });
  return ops;
}
