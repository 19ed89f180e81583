import { describe, expect, it } from '@jest/globals';
import { Hints, type Hint } from '../../src/cluster/hints.js';
import type { WriteRequest } from '../../src/cluster/replica.js';
import { NodeMetrics } from '../../src/metrics.js';

/** Hints on a clock the test moves by hand, with a real metric registry. */
function setup(opts: { maxBytes?: number; maxAgeMs?: number } = {}) {
  const clock = { t: 10_000 };
  const metrics = new NodeMetrics({ member: 'test' });
  const hints = new Hints(
    { maxBytes: opts.maxBytes ?? 1 << 20, maxAgeMs: opts.maxAgeMs ?? 60_000 },
    metrics,
    () => clock.t,
  );
  return { hints, clock, metrics };
}

function write(key: string, version: number, value: string | null = `v${version}`): WriteRequest {
  return {
    key,
    value: value === null ? null : Buffer.from(value),
    version,
    tombstone: value === null,
    ttlMs: 0,
  };
}

const summary = (hs: readonly Hint[]): string[] =>
  hs.map((h) => `${h.key}@${h.version}:${h.value === null ? 'tombstone' : h.value.toString()}`);

async function metricValue(
  metrics: NodeMetrics,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const m = await metrics.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value;
}

describe('Hints: one per key per member, newest version wins', () => {
  it('keeps only the newest version of a key, whatever order the writes arrive in', () => {
    const { hints } = setup();
    hints.add('b', write('k', 2), 'inc-b');
    hints.add('b', write('k', 5), 'inc-b');
    hints.add('b', write('k', 3), 'inc-b'); // older than what is held: ignored
    expect(hints.pending('b')).toBe(1);
    expect(summary(hints.take('b', 10))).toEqual(['k@5:v5']);
    expect(hints.pending('b')).toBe(0);
  });

  it('keeps a tombstone newer than a value, so a replay cannot resurrect the key', () => {
    const { hints } = setup();
    hints.add('b', write('k', 1), 'inc-b');
    hints.add('b', write('k', 2, null), 'inc-b');
    expect(summary(hints.take('b', 10))).toEqual(['k@2:tombstone']);
  });

  it('keeps members apart', () => {
    const { hints } = setup();
    hints.add('b', write('k', 1), 'inc-b');
    hints.add('c', write('k', 7), 'inc-c');
    expect(hints.pending('b')).toBe(1);
    expect(hints.pending('c')).toBe(1);
    expect(hints.total).toBe(2);
    expect(hints.membersWithHints().sort()).toEqual(['b', 'c']);
    expect(summary(hints.take('b', 10))).toEqual(['k@1:v1']);
    expect(hints.membersWithHints()).toEqual(['c']);
    expect(hints.take('nobody', 10)).toEqual([]);
  });

  it('hands hints out oldest first, at most `max` per take', () => {
    const { hints, clock } = setup();
    for (let i = 0; i < 5; i++) {
      hints.add('b', write(`k${i}`, 1), 'inc-b');
      clock.t += 1;
    }
    expect(hints.take('b', 2).map((h) => h.key)).toEqual(['k0', 'k1']);
    expect(hints.take('b', 2).map((h) => h.key)).toEqual(['k2', 'k3']);
    expect(hints.take('b', 2).map((h) => h.key)).toEqual(['k4']);
    expect(hints.pending('b')).toBe(0);
  });
});

describe('Hints: bounded by bytes', () => {
  it('drops the oldest hints of a member past its byte bound, keeping the newest', async () => {
    // Each hint here is 2-byte key + 100-byte value + fixed overhead: measure one.
    const probe = setup();
    probe.hints.add('b', write('k0', 1, 'x'.repeat(100)), 'i');
    const one = probe.hints.take('b', 1)[0]!.bytes;
    expect(one).toBeGreaterThan(102);

    const { hints, metrics } = setup({ maxBytes: one * 3 });
    for (let i = 0; i < 5; i++) hints.add('b', write(`k${i}`, 1, 'x'.repeat(100)), 'i');
    expect(hints.pending('b')).toBe(3);
    expect(hints.take('b', 10).map((h) => h.key)).toEqual(['k2', 'k3', 'k4']);
    expect(await metricValue(metrics, 'kvring_hints_total', { outcome: 'dropped' })).toBe(2);
    expect(await metricValue(metrics, 'kvring_hints_total', { outcome: 'stored' })).toBe(5);
  });

  it('applies the bound per member: one member over budget does not evict another', () => {
    const probe = setup();
    probe.hints.add('b', write('k0', 1, 'x'.repeat(100)), 'i');
    const one = probe.hints.take('b', 1)[0]!.bytes;

    const { hints } = setup({ maxBytes: one * 2 });
    hints.add('c', write('k0', 1, 'x'.repeat(100)), 'i');
    for (let i = 0; i < 4; i++) hints.add('b', write(`k${i}`, 1, 'x'.repeat(100)), 'i');
    expect(hints.pending('b')).toBe(2);
    expect(hints.pending('c')).toBe(1);
  });

  it('frees the bytes of a replaced hint, so newer versions of one key never evict others', () => {
    const probe = setup();
    probe.hints.add('b', write('k0', 1, 'x'.repeat(100)), 'i');
    const one = probe.hints.take('b', 1)[0]!.bytes;

    const { hints } = setup({ maxBytes: one * 2 });
    hints.add('b', write('other', 1, 'y'.repeat(97)), 'i');
    for (let v = 1; v <= 20; v++) hints.add('b', write('k0', v, 'x'.repeat(100)), 'i');
    expect(summary(hints.take('b', 10)).map((s) => s.split(':')[0])).toEqual(['other@1', 'k0@20']);
  });

  it('reports pending hints and bytes per member on the metrics', async () => {
    const { hints, metrics } = setup();
    hints.add('b', write('k1', 1), 'i');
    hints.add('b', write('k2', 1), 'i');
    expect(await metricValue(metrics, 'kvring_hints_pending', { member: 'b' })).toBe(2);
    const bytes = await metricValue(metrics, 'kvring_hints_pending_bytes', { member: 'b' });
    expect(bytes).toBeGreaterThan(0);
    hints.take('b', 10);
    expect(await metricValue(metrics, 'kvring_hints_pending', { member: 'b' })).toBe(0);
    expect(await metricValue(metrics, 'kvring_hints_pending_bytes', { member: 'b' })).toBe(0);
  });
});

describe('Hints: bounded by age', () => {
  it('drops hints older than the age bound when they are taken, and returns the rest', async () => {
    const { hints, clock, metrics } = setup({ maxAgeMs: 1000 });
    hints.add('b', write('old', 1), 'i');
    clock.t += 600;
    hints.add('b', write('young', 1), 'i');
    clock.t += 500; // old is 1100 ms old, young 500 ms
    expect(summary(hints.take('b', 10))).toEqual(['young@1:v1']);
    expect(hints.pending('b')).toBe(0);
    expect(await metricValue(metrics, 'kvring_hints_total', { outcome: 'dropped' })).toBe(1);
  });

  it('keeps a hint exactly at the age bound', () => {
    const { hints, clock } = setup({ maxAgeMs: 1000 });
    hints.add('b', write('k', 1), 'i');
    clock.t += 1000;
    expect(hints.take('b', 10).map((h) => h.key)).toEqual(['k']);
  });

  it('ages a key from its newest write, not its first', () => {
    const { hints, clock } = setup({ maxAgeMs: 1000 });
    hints.add('b', write('k', 1), 'i');
    clock.t += 900;
    hints.add('b', write('k', 2), 'i');
    clock.t += 900;
    expect(summary(hints.take('b', 10))).toEqual(['k@2:v2']);
  });
});

describe('Hints: incarnations', () => {
  it('keepOnly drops the hints captured for other incarnations of the member', async () => {
    const { hints, metrics } = setup();
    hints.add('b', write('k1', 1), 'inc-old');
    hints.add('b', write('k2', 1), 'inc-new');
    hints.add('b', write('k3', 1), 'inc-old');
    hints.add('c', write('k4', 1), 'inc-old'); // another member: untouched
    expect(hints.keepOnly('b', 'inc-new')).toBe(2);
    expect(hints.take('b', 10).map((h) => [h.key, h.incarnation])).toEqual([['k2', 'inc-new']]);
    expect(hints.pending('c')).toBe(1);
    expect(await metricValue(metrics, 'kvring_hints_total', { outcome: 'dropped' })).toBe(2);
    expect(hints.keepOnly('nobody', 'x')).toBe(0);
  });

  it('each hint keeps the incarnation it was captured for', () => {
    const { hints } = setup();
    hints.add('b', write('k', 1), 'inc-1');
    hints.add('b', write('k', 2), 'inc-2');
    expect(hints.take('b', 1).map((h) => [h.version, h.incarnation])).toEqual([[2, 'inc-2']]);
  });
});

describe('Hints: restore after a failed replay', () => {
  it('puts a hint back when nothing newer arrived', () => {
    const { hints } = setup();
    hints.add('b', write('k', 3), 'i');
    const [h] = hints.take('b', 1);
    expect(hints.pending('b')).toBe(0);
    hints.restore('b', h!);
    expect(summary(hints.take('b', 10))).toEqual(['k@3:v3']);
  });

  it('does not overwrite a newer hint that arrived while the replay was in flight', () => {
    const { hints } = setup();
    hints.add('b', write('k', 3), 'i');
    const [h] = hints.take('b', 1);
    hints.add('b', write('k', 4, 'newer'), 'i');
    hints.restore('b', h!);
    expect(summary(hints.take('b', 10))).toEqual(['k@4:newer']);
  });

  it('replaces an older hint with the restored newer one', () => {
    const { hints } = setup();
    hints.add('b', write('k', 5), 'i');
    const [h] = hints.take('b', 1);
    hints.add('b', write('k', 4, 'older'), 'i');
    hints.restore('b', h!);
    expect(summary(hints.take('b', 10))).toEqual(['k@5:v5']);
    expect(hints.pending('b')).toBe(0);
  });
});

describe('Hints: bounds hold after a failed replay', () => {
  it('keeps the byte bound when hints are restored after newer ones filled the space, dropping the oldest', () => {
    const probe = setup();
    probe.hints.add('b', write('k0', 1, 'x'.repeat(100)), 'i');
    const one = probe.hints.take('b', 1)[0]!.bytes;

    const { hints } = setup({ maxBytes: one * 3 });
    for (const k of ['k0', 'k1', 'k2']) hints.add('b', write(k, 1, 'x'.repeat(100)), 'i');
    const inFlight = hints.take('b', 3);
    for (const k of ['k3', 'k4', 'k5']) hints.add('b', write(k, 1, 'x'.repeat(100)), 'i');
    for (const h of inFlight) hints.restore('b', h);
    // The restored hints are the oldest: they are the ones the bound drops.
    expect(hints.take('b', 10).map((h) => h.key)).toEqual(['k3', 'k4', 'k5']);
  });
});

describe('Hints: TTLs', () => {
  it('hands over only what is left of a TTL, and turns a hint whose TTL ran out into an expiry marker', () => {
    const { hints, clock } = setup();
    hints.add('b', { ...write('short', 1), ttlMs: 1500 }, 'i');
    hints.add('b', { ...write('long', 1), ttlMs: 60_000 }, 'i');
    hints.add('b', write('forever', 1), 'i');
    clock.t += 2000;
    expect(hints.take('b', 10).map((h) => [h.key, h.ttlMs, h.expired === true, h.value === null])).toEqual([
      ['short', 0, true, true],
      ['long', 58_000, false, false],
      ['forever', 0, false, false],
    ]);
  });
});
