// Our own checker, by versions (PostgreSQL numbers every write of a key):
// - every acknowledged write/delete is present (PostgreSQL's row and a final
//   read through the cluster hold its version), superseded (they hold a
//   higher version), or lost;
// - no read returns a version older than one acknowledged before the read
//   began (stale), in particular no value a delete removed (resurrected);
//   a read that finds nothing must be explained by a delete;
// - every value read was written by some operation on that key (or is the
//   key's initial legacy value), and never by one that certainly failed;
// - a version names one value, and a value one version.
// Keys written with a TTL get the provenance check, the stale check for
// reads that found a value (expiry may make a value absent, never older),
// and a count of values served well after they expired.
import type { CompleteEvent, HistoryEvent, Operation } from './history.js';
import { operations } from './history.js';

export interface FinalRow {
  readonly version: number;
  readonly tombstone: boolean;
  readonly value: string | null;
}

export interface FinalRead {
  readonly found: boolean;
  readonly value: string;
  readonly version: number;
}

export interface CheckInput {
  readonly events: readonly HistoryEvent[];
  /** PostgreSQL's rows after the faults, by key (absent key: no row). */
  readonly rows: ReadonlyMap<string, FinalRow>;
  /** A read of every key through the cluster after the faults. */
  readonly finalReads: ReadonlyMap<string, FinalRead>;
}

export interface CheckResult {
  readonly ackedWrites: number;
  readonly present: number;
  readonly superseded: number;
  readonly lost: number;
  readonly ackedDeletes: number;
  readonly deletesKept: number;
  readonly deletesSuperseded: number;
  readonly deletesLost: number;
  readonly readsChecked: number;
  readonly staleReads: number;
  readonly resurrected: number;
  readonly phantomValues: number;
  readonly failedWritesVisible: number;
  readonly versionConflicts: number;
  readonly finalReadMismatches: number;
  readonly ttlExpiredServed: number;
  /** Up to 20 human-readable examples of every anomaly above. */
  readonly examples: string[];
}

/** Slack for TTL expiry: replication and clocks of one machine, not a promise. */
const TTL_SLACK_NS = 1_000_000_000;
const MAX_EXAMPLES = 20;

export function check(input: CheckInput): CheckResult {
  const ops = operations(input.events);
  const inits = new Map<string, string>();
  for (const e of input.events) if (e.type === 'init') inits.set(e.key, e.value);
  const byKey = new Map<string, Operation[]>();
  const ttlKeys = new Set<string>();
  for (const op of ops) {
    const list = byKey.get(op.invoke.key) ?? [];
    list.push(op);
    byKey.set(op.invoke.key, list);
    if ((op.invoke.ttlMs ?? 0) > 0) ttlKeys.add(op.invoke.key);
  }
  const r = {
    ackedWrites: 0,
    present: 0,
    superseded: 0,
    lost: 0,
    ackedDeletes: 0,
    deletesKept: 0,
    deletesSuperseded: 0,
    deletesLost: 0,
    readsChecked: 0,
    staleReads: 0,
    resurrected: 0,
    phantomValues: 0,
    failedWritesVisible: 0,
    versionConflicts: 0,
    finalReadMismatches: 0,
    ttlExpiredServed: 0,
    examples: [] as string[],
  };
  const note = (s: string): void => {
    if (r.examples.length < MAX_EXAMPLES) r.examples.push(s);
  };
  for (const [key, list] of byKey) {
    provenance(key, list, inits.get(key), r, note);
    if (ttlKeys.has(key)) {
      r.ttlExpiredServed += expiredServed(list, note);
      // Expiry may turn a value into "absent", never into an older value:
      // the newer write replaced the older one in PostgreSQL.
      staleness(key, list, inits.has(key), r, note, { foundOnly: true });
      continue;
    }
    durability(key, list, input.rows.get(key), input.finalReads.get(key), r, note);
    staleness(key, list, inits.has(key), r, note);
  }
  return r;
}

type Counters = Omit<CheckResult, 'examples'> & {
  -readonly [K in keyof Omit<CheckResult, 'examples'>]: number;
};

const acked = (op: Operation): op is Operation & { complete: CompleteEvent } => op.complete?.type === 'ok';

function ms(ns: number): string {
  return `${(ns / 1e6).toFixed(1)} ms`;
}

function describe(op: Operation): string {
  const i = op.invoke;
  const c = op.complete;
  const what =
    i.f === 'write' ? `write(${JSON.stringify(i.value)})` : i.f === 'delete' ? 'delete()' : 'read()';
  const res =
    c === undefined
      ? 'no completion'
      : c.type !== 'ok'
        ? `${c.type} ${c.error ?? ''}`
        : i.f === 'read'
          ? c.found
            ? `${JSON.stringify(c.value)} v${c.version}`
            : 'absent'
          : `v${c.version}`;
  return `op ${i.id} ${what} via ${i.node} [${ms(i.t)} .. ${c ? ms(c.t) : '?'}] -> ${res}`;
}

/** Acknowledged writes and deletes against PostgreSQL's final row and a final read. */
function durability(
  key: string,
  list: readonly Operation[],
  row: FinalRow | undefined,
  final: FinalRead | undefined,
  r: Counters,
  note: (s: string) => void,
): void {
  for (const op of list) {
    if (op.invoke.f === 'read' || !acked(op)) continue;
    const v = op.complete.version ?? 0;
    const isDelete = op.invoke.f === 'delete';
    if (isDelete) r.ackedDeletes++;
    else r.ackedWrites++;
    const pgV = row?.version ?? 0;
    let verdict: 'present' | 'superseded' | 'lost';
    if (pgV > v) verdict = 'superseded';
    else if (pgV < v || row === undefined) verdict = 'lost';
    else if (isDelete) verdict = row.tombstone ? 'present' : 'lost';
    else verdict = !row.tombstone && row.value === op.invoke.value ? 'present' : 'lost';
    // The cluster must agree with PostgreSQL on the newest version.
    if (verdict === 'present' && final !== undefined) {
      const ok = isDelete
        ? !final.found
        : final.found && final.version === v && final.value === op.invoke.value;
      if (!ok) verdict = 'lost';
    }
    if (verdict === 'lost')
      note(
        `lost: ${key}: ${describe(op)}; PostgreSQL ${row ? `v${row.version}${row.tombstone ? ' tombstone' : ''}` : 'no row'}, ` +
          `final read ${final ? (final.found ? `v${final.version}` : 'absent') : 'none'}`,
      );
    if (isDelete) {
      if (verdict === 'present') r.deletesKept++;
      else if (verdict === 'superseded') r.deletesSuperseded++;
      else r.deletesLost++;
    } else {
      if (verdict === 'present') r.present++;
      else if (verdict === 'superseded') r.superseded++;
      else r.lost++;
    }
  }
  if (final !== undefined) {
    const pgFound = row !== undefined && !row.tombstone;
    const same = pgFound
      ? final.found && final.version === row.version && final.value === row.value
      : !final.found;
    if (!same) {
      r.finalReadMismatches++;
      note(
        `final read != PostgreSQL: ${key}: read ${final.found ? `v${final.version}` : 'absent'}, ` +
          `PostgreSQL ${row ? `v${row.version}${row.tombstone ? ' tombstone' : ''}` : 'no row'}`,
      );
    }
  }
}

/** Reads against what was acknowledged before they began. */
function staleness(
  key: string,
  list: readonly Operation[],
  hasInit: boolean,
  r: Counters,
  note: (s: string) => void,
  opts: { foundOnly?: boolean } = {},
): void {
  const done = list.filter(acked).filter((op) => op.invoke.f !== 'read');
  const deletes = list.filter((op) => op.invoke.f === 'delete' && op.complete?.type !== 'fail');
  for (const op of list) {
    if (op.invoke.f !== 'read' || !acked(op)) continue;
    r.readsChecked++;
    const start = op.invoke.t;
    let floor: (Operation & { complete: CompleteEvent }) | undefined;
    for (const w of done)
      if (
        w.complete.t < start &&
        (floor === undefined || (w.complete.version ?? 0) > (floor.complete.version ?? 0))
      )
        floor = w;
    const c = op.complete;
    if (c.found) {
      if (floor !== undefined && (c.version ?? 0) < (floor.complete.version ?? 0)) {
        r.staleReads++;
        if (floor.invoke.f === 'delete') r.resurrected++;
        note(`stale read: ${key}: ${describe(op)} began after ${describe(floor)} was acknowledged`);
      }
      continue;
    }
    if (opts.foundOnly) continue;
    // Nothing found: fine if nothing was there (no write acknowledged before,
    // no initial value), else a delete must explain it.
    if (floor === undefined ? !hasInit : floor.invoke.f === 'delete') continue;
    const floorV = floor?.complete.version ?? 0;
    const explained = deletes.some(
      (d) =>
        d.invoke.t <= c.t &&
        (d.complete?.type !== 'ok' || (d.complete.version ?? 0) > floorV || floor === undefined),
    );
    if (!explained) {
      r.staleReads++;
      note(
        `stale read: ${key}: ${describe(op)} found nothing, but ${floor ? describe(floor) : 'the initial value'} ` +
          'was there and no delete explains it',
      );
    }
  }
}

/** Every value read must come from a write of that key (not a failed one), one version per value. */
function provenance(
  key: string,
  list: readonly Operation[],
  init: string | undefined,
  r: Counters,
  note: (s: string) => void,
): void {
  const writes = new Map<string, Operation>();
  for (const op of list)
    if (op.invoke.f === 'write' && op.invoke.value !== undefined) writes.set(op.invoke.value, op);
  const versionOf = new Map<string, number>();
  const valueAt = new Map<number, string>();
  const see = (value: string, version: number, op: Operation): void => {
    const v0 = versionOf.get(value);
    const x0 = valueAt.get(version);
    if ((v0 !== undefined && v0 !== version) || (x0 !== undefined && x0 !== value)) {
      r.versionConflicts++;
      note(
        `version conflict: ${key}: ${describe(op)}; ` +
          (v0 !== undefined && v0 !== version ? `${JSON.stringify(value)} was seen as v${v0} before` : '') +
          (x0 !== undefined && x0 !== value ? ` v${version} held ${JSON.stringify(x0)} before` : ''),
      );
    }
    versionOf.set(value, version);
    valueAt.set(version, value);
  };
  for (const op of list) {
    if (!acked(op)) continue;
    const c = op.complete;
    if (op.invoke.f === 'write') see(op.invoke.value ?? '', c.version ?? 0, op);
    if (op.invoke.f !== 'read' || !c.found) continue;
    const value = c.value ?? '';
    see(value, c.version ?? 0, op);
    const w = writes.get(value);
    if (w === undefined) {
      if (value !== init) {
        r.phantomValues++;
        note(`phantom value: ${key}: ${describe(op)} returned a value no operation wrote`);
      }
    } else if (w.complete?.type === 'fail') {
      r.failedWritesVisible++;
      note(`failed write visible: ${key}: ${describe(op)} returned the value of ${describe(w)}`);
    } else if (w.invoke.t > c.t) {
      r.phantomValues++;
      note(`phantom value: ${key}: ${describe(op)} returned the value of a later ${describe(w)}`);
    }
  }
}

/** Reads of a TTL key that returned a value well after its TTL ran out. */
function expiredServed(list: readonly Operation[], note: (s: string) => void): number {
  const byValue = new Map<string, Operation & { complete: CompleteEvent }>();
  for (const op of list) if (op.invoke.f === 'write' && acked(op)) byValue.set(op.invoke.value ?? '', op);
  let n = 0;
  for (const op of list) {
    if (op.invoke.f !== 'read' || !acked(op) || !op.complete.found) continue;
    const w = byValue.get(op.complete.value ?? '');
    const ttl = w?.invoke.ttlMs ?? 0;
    if (w === undefined || ttl <= 0) continue;
    if (op.invoke.t > w.complete.t + ttl * 1e6 + TTL_SLACK_NS) {
      n++;
      note(
        `expired value served: ${op.invoke.key}: ${describe(op)}, written by ${describe(w)} with TTL ${ttl} ms`,
      );
    }
  }
  return n;
}
