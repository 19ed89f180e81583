// The group-commit batcher and the round split, with a flush function that
// records what it was given and completes when the test says so.
import { describe, expect, it } from '@jest/globals';
import { GroupCommitBatcher, splitRounds } from '../../src/pg/batcher.js';

interface Pending {
  readonly ops: readonly string[];
  resolve(results: readonly string[]): void;
  reject(err: unknown): void;
}

function recordingBatcher(opts: { maxItems?: number; maxBytes?: number; maxInFlight?: number } = {}) {
  const flushes: Pending[] = [];
  const batcher = new GroupCommitBatcher<string, string>(
    (ops) =>
      new Promise<readonly string[]>((resolve, reject) => {
        flushes.push({ ops, resolve, reject });
      }),
    { maxItems: opts.maxItems ?? 100, maxBytes: opts.maxBytes ?? 1e9, maxInFlight: opts.maxInFlight ?? 1 },
    (op) => op.length,
  );
  return { batcher, flushes };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const echo = (p: Pending): void => p.resolve(p.ops.map((o) => `done:${o}`));

describe('splitRounds', () => {
  it('puts the n-th write of a key in round n, keeping batch order inside each round', () => {
    expect(splitRounds(['a', 'b', 'a', 'c', 'a', 'b'])).toEqual([[0, 1, 3], [2, 5], [4]]);
    expect(splitRounds(['x', 'y'])).toEqual([[0, 1]]);
    expect(splitRounds([])).toEqual([]);
  });
});

describe('GroupCommitBatcher', () => {
  it('sends writes submitted in one turn of the event loop as one flush, results in order', async () => {
    const { batcher, flushes } = recordingBatcher();
    const results = Promise.all(['a', 'b', 'c'].map((op) => batcher.submit(op)));
    expect(flushes.length).toBe(0); // not before the next turn
    await tick();
    expect(flushes.map((f) => f.ops)).toEqual([['a', 'b', 'c']]);
    echo(flushes[0]!);
    expect(await results).toEqual(['done:a', 'done:b', 'done:c']);
  });

  it('queues writes while a flush is in flight and sends them together when it ends (self-clocking)', async () => {
    const { batcher, flushes } = recordingBatcher({ maxInFlight: 1 });
    const first = batcher.submit('1');
    await tick();
    const later = ['2', '3', '4'].map((op) => batcher.submit(op));
    await tick();
    expect(flushes.length).toBe(1);
    expect(batcher.pending).toBe(3);
    echo(flushes[0]!);
    await first;
    await tick();
    expect(flushes.map((f) => f.ops)).toEqual([['1'], ['2', '3', '4']]);
    echo(flushes[1]!);
    expect(await Promise.all(later)).toEqual(['done:2', 'done:3', 'done:4']);
  });

  it('keeps at most maxInFlight flushes and maxItems writes per flush', async () => {
    const { batcher, flushes } = recordingBatcher({ maxItems: 2, maxInFlight: 2 });
    const all = Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((op) => batcher.submit(op)));
    await tick();
    expect(flushes.map((f) => f.ops)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    expect(batcher.inFlight).toBe(2);
    echo(flushes[1]!);
    await tick();
    await tick();
    expect(flushes.map((f) => f.ops)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e', 'f'],
    ]);
    echo(flushes[0]!);
    echo(flushes[2]!);
    expect(await all).toEqual(['a', 'b', 'c', 'd', 'e', 'f'].map((o) => `done:${o}`));
  });

  it('bounds a flush by bytes, but sends an oversized write alone rather than never', async () => {
    const { batcher, flushes } = recordingBatcher({ maxBytes: 5, maxInFlight: 3 });
    const all = Promise.all(['aa', 'bb', 'cc', 'toolongvalue'].map((op) => batcher.submit(op)));
    await tick();
    expect(flushes.map((f) => f.ops)).toEqual([['aa', 'bb'], ['cc'], ['toolongvalue']]);
    flushes.forEach(echo);
    await all;
  });

  it('rejects every write of a failed flush with its error, and later flushes still work', async () => {
    const { batcher, flushes } = recordingBatcher();
    const failed = ['x', 'y'].map((op) => batcher.submit(op));
    await tick();
    const boom = new Error('PostgreSQL is unreachable');
    flushes[0]!.reject(boom);
    for (const p of failed) await expect(p).rejects.toBe(boom);
    const ok = batcher.submit('z');
    await tick();
    echo(flushes[1]!);
    expect(await ok).toBe('done:z');
  });

  it('rejects the batch when the flush returns the wrong number of results', async () => {
    const { batcher, flushes } = recordingBatcher();
    const ps = ['a', 'b'].map((op) => batcher.submit(op));
    await tick();
    flushes[0]!.resolve(['only one']);
    for (const p of ps) await expect(p).rejects.toThrow(/1 results for 2 writes/);
  });

  it('drain() resolves once everything submitted has settled', async () => {
    const { batcher, flushes } = recordingBatcher();
    await batcher.drain(); // idle: at once
    const p = batcher.submit('a');
    let drained = false;
    const d = batcher.drain().then(() => (drained = true));
    await tick();
    expect(drained).toBe(false);
    echo(flushes[0]!);
    await d;
    expect(drained).toBe(true);
    expect(await p).toBe('done:a');
  });
});
