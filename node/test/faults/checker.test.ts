// The fault suite's own checker and error classification, on small
// hand-written histories: each anomaly it must report, and the in-doubt and
// superseded cases it must not report.
import { describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { check, type FinalRead, type FinalRow } from './checker.js';
import { outcomeOfError } from './classify.js';
import type { HistoryEvent, OpKind, Outcome } from './history.js';

/** Builds a history: each op is [kind, key, value|undefined, start, end, outcome, result]. */
class H {
  readonly events: HistoryEvent[] = [];
  private id = 1;

  init(key: string, value: string): this {
    this.events.push({ type: 'init', key, value });
    return this;
  }

  op(
    f: OpKind,
    key: string,
    t0: number,
    t1: number | undefined,
    outcome: Outcome,
    r: { value?: string; version?: number; found?: boolean; ttlMs?: number } = {},
  ): this {
    const id = this.id++;
    this.events.push({
      type: 'invoke',
      id,
      proc: 0,
      t: t0,
      f,
      key,
      node: 'kv-0',
      ...(f === 'write' ? { value: r.value ?? `x${id}` } : {}),
      ...(r.ttlMs ? { ttlMs: r.ttlMs } : {}),
    });
    if (t1 !== undefined)
      this.events.push({
        type: outcome,
        id,
        proc: 0,
        t: t1,
        f,
        key,
        ...(outcome === 'ok' && r.version !== undefined ? { version: r.version } : {}),
        ...(f === 'read' && outcome === 'ok'
          ? { found: r.found ?? r.value !== undefined, ...(r.value !== undefined ? { value: r.value } : {}) }
          : {}),
      });
    return this;
  }
}

const row = (version: number, value: string | null, tombstone = false): FinalRow => ({
  version,
  value,
  tombstone,
});
const read = (version: number, value: string | null): FinalRead =>
  value === null ? { found: false, value: '', version: 0 } : { found: true, value, version };

describe('our checker', () => {
  it('counts an acknowledged write held by PostgreSQL and the cluster as present', () => {
    const h = new H().op('write', 'k', 1, 2, 'ok', { value: 'a', version: 1 });
    const r = check({
      events: h.events,
      rows: new Map([['k', row(1, 'a')]]),
      finalReads: new Map([['k', read(1, 'a')]]),
    });
    expect(r).toMatchObject({ ackedWrites: 1, present: 1, lost: 0, staleReads: 0, finalReadMismatches: 0 });
  });

  it('reports an acknowledged write that PostgreSQL lacks as lost', () => {
    const h = new H().op('write', 'k', 1, 2, 'ok', { value: 'a', version: 3 });
    const r = check({ events: h.events, rows: new Map([['k', row(2, 'old')]]), finalReads: new Map() });
    expect(r.lost).toBe(1);
    expect(r.examples[0]).toMatch(/^lost: k: op 1 write\("a"\)/);
  });

  it('reports a write PostgreSQL holds but the cluster no longer serves as lost', () => {
    const h = new H().op('write', 'k', 1, 2, 'ok', { value: 'a', version: 3 });
    const r = check({
      events: h.events,
      rows: new Map([['k', row(3, 'a')]]),
      finalReads: new Map([['k', read(0, null)]]),
    });
    expect(r.lost).toBe(1);
    expect(r.finalReadMismatches).toBe(1);
  });

  it('counts a write overwritten later (even by a write in doubt) as superseded', () => {
    const h = new H()
      .op('write', 'k', 1, 2, 'ok', { value: 'a', version: 1 })
      .op('write', 'k', 3, 4, 'info', { value: 'b' });
    const r = check({
      events: h.events,
      rows: new Map([['k', row(2, 'b')]]),
      finalReads: new Map([['k', read(2, 'b')]]),
    });
    expect(r).toMatchObject({ present: 0, superseded: 1, lost: 0, phantomValues: 0 });
  });

  it('reports a read older than a write acknowledged before it began as stale', () => {
    const h = new H()
      .op('write', 'k', 1, 2, 'ok', { value: 'a', version: 1 })
      .op('write', 'k', 3, 4, 'ok', { value: 'b', version: 2 })
      .op('read', 'k', 5, 6, 'ok', { value: 'a', version: 1 });
    const r = check({ events: h.events, rows: new Map([['k', row(2, 'b')]]), finalReads: new Map() });
    expect(r.staleReads).toBe(1);
    expect(r.resurrected).toBe(0);
  });

  it('accepts an old value from a read that overlapped the newer write', () => {
    const h = new H()
      .op('write', 'k', 1, 2, 'ok', { value: 'a', version: 1 })
      .op('write', 'k', 3, 6, 'ok', { value: 'b', version: 2 })
      .op('read', 'k', 4, 5, 'ok', { value: 'a', version: 1 });
    expect(
      check({ events: h.events, rows: new Map([['k', row(2, 'b')]]), finalReads: new Map() }).staleReads,
    ).toBe(0);
  });

  it('reports a value a delete removed coming back as resurrected', () => {
    const h = new H()
      .init('legacy:1', 'legacy-value-1')
      .op('read', 'legacy:1', 1, 2, 'ok', { value: 'legacy-value-1', version: 1 })
      .op('delete', 'legacy:1', 3, 4, 'ok', { version: 2 })
      .op('read', 'legacy:1', 5, 6, 'ok', { value: 'legacy-value-1', version: 1 });
    const r = check({
      events: h.events,
      rows: new Map([['legacy:1', row(2, null, true)]]),
      finalReads: new Map(),
    });
    expect(r).toMatchObject({ staleReads: 1, resurrected: 1, deletesKept: 1 });
  });

  it('reports "absent" after an acknowledged write as stale unless a delete explains it', () => {
    const lost = new H()
      .op('write', 'k', 1, 2, 'ok', { value: 'a', version: 1 })
      .op('read', 'k', 3, 4, 'ok', { found: false });
    expect(check({ events: lost.events, rows: new Map(), finalReads: new Map() }).staleReads).toBe(1);
    const explained = new H()
      .op('write', 'k', 1, 2, 'ok', { value: 'a', version: 1 })
      .op('delete', 'k', 2.5, undefined, 'info')
      .op('read', 'k', 3, 4, 'ok', { found: false });
    expect(check({ events: explained.events, rows: new Map(), finalReads: new Map() }).staleReads).toBe(0);
  });

  it('reports a legacy key read as absent with no delete as stale', () => {
    const h = new H().init('legacy:2', 'legacy-value-2').op('read', 'legacy:2', 1, 2, 'ok', { found: false });
    expect(check({ events: h.events, rows: new Map(), finalReads: new Map() }).staleReads).toBe(1);
  });

  it('reports a value nobody wrote, and the value of a write that certainly failed', () => {
    const h = new H()
      .op('write', 'k', 1, 2, 'fail', { value: 'failed' })
      .op('read', 'k', 3, 4, 'ok', { value: 'failed', version: 1 })
      .op('read', 'k', 5, 6, 'ok', { value: 'nobody', version: 2 });
    const r = check({ events: h.events, rows: new Map(), finalReads: new Map() });
    expect(r.failedWritesVisible).toBe(1);
    expect(r.phantomValues).toBe(1);
  });

  it('reports one version holding two values', () => {
    const h = new H()
      .op('write', 'k', 1, 2, 'ok', { value: 'a', version: 1 })
      .op('write', 'k', 3, 4, 'info', { value: 'b' })
      .op('read', 'k', 5, 6, 'ok', { value: 'b', version: 1 });
    expect(check({ events: h.events, rows: new Map(), finalReads: new Map() }).versionConflicts).toBe(1);
  });

  it('leaves TTL keys out of the register checks but counts values served long after expiry', () => {
    const h = new H()
      .op('write', 't', 0, 1e6, 'ok', { value: 'a', version: 1, ttlMs: 100 })
      .op('read', 't', 5e9, 5.1e9, 'ok', { value: 'a', version: 1 })
      .op('read', 't', 6e9, 6.1e9, 'ok', { found: false });
    const r = check({ events: h.events, rows: new Map(), finalReads: new Map() });
    expect(r).toMatchObject({ ackedWrites: 0, staleReads: 0, ttlExpiredServed: 1 });
  });

  it('reports an older value of a TTL key, served after a newer one was acknowledged, as stale', () => {
    const h = new H()
      .op('write', 't', 0, 1e6, 'ok', { value: 'a', version: 1, ttlMs: 60_000 })
      .op('write', 't', 2e6, 3e6, 'ok', { value: 'b', version: 2, ttlMs: 100 })
      .op('read', 't', 5e8, 5.1e8, 'ok', { found: false })
      .op('read', 't', 6e8, 6.1e8, 'ok', { value: 'a', version: 1 });
    expect(check({ events: h.events, rows: new Map(), finalReads: new Map() }).staleReads).toBe(1);
  });
});

describe('outcome of a failed request', () => {
  it('treats failed writes as in doubt unless the error proves they were not applied', () => {
    expect(outcomeOfError('write', { code: status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' })).toBe(
      'info',
    );
    expect(
      outcomeOfError('write', {
        code: status.UNKNOWN,
        reason: 'WRITE_IN_DOUBT',
        details: 'version 7 is committed in PostgreSQL but only 1 of 2 required replicas acknowledged',
      }),
    ).toBe('info');
    expect(outcomeOfError('delete', { code: status.UNAVAILABLE, details: 'Connection dropped' })).toBe(
      'info',
    );
    expect(outcomeOfError('write', { code: status.INVALID_ARGUMENT, details: 'key too long' })).toBe('fail');
    expect(
      outcomeOfError('write', {
        code: status.UNAVAILABLE,
        reason: 'QUORUM_UNAVAILABLE',
        details: 'only 1 of 3 replicas of this key are up; a write needs 2 (KVRING_WRITE_QUORUM)',
      }),
    ).toBe('fail');
    expect(
      outcomeOfError('write', {
        code: status.UNAVAILABLE,
        reason: 'UNAVAILABLE',
        notSent: true,
        details: 'cannot connect to 198.18.0.1:50051: the connection failed (the call was not sent)',
      }),
    ).toBe('fail');
    // The same status without a reason: the connection may have broken after the request went out.
    expect(outcomeOfError('write', { code: status.UNAVAILABLE, details: 'No connection established' })).toBe(
      'info',
    );
    expect(outcomeOfError('read', { code: status.DEADLINE_EXCEEDED, details: 'x' })).toBe('fail');
  });
});
