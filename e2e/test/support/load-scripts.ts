// Small ES modules the scenarios run in the client pod (node image, from
// /app) with the kvring client library, given the headless Service's name as
// an application inside the cluster would be (it resolves every pod, follows
// the ring, fails over): a writer/reader load that records every operation
// (when it started, how long it took, how it ended), overwrites hot keys
// with increasing values and checks that reads never go back, and a check
// that reads everything back afterwards, in-doubt writes included.

const CLIENT_MODULE = '/app/client/dist/index.js';

export interface LoadParams {
  addresses: string[];
  prefix: string;
  durationMs: number;
  /** Concurrent writers; as many readers. */
  workers: number;
  /** Deadline of each call. */
  timeoutMs: number;
}

/** How an operation ended, as recorded in LoadResult.ops. */
export const OUTCOME = { writeOk: 0, writeFailed: 1, writeInDoubt: 2, readOk: 3, readFailed: 4 } as const;

export interface LoadResult {
  /** Epoch ms the load started at: ops' start offsets count from it. */
  t0: number;
  /** Every operation as three numbers: start (ms after t0), latency (ms), outcome (OUTCOME). */
  ops: number[];
  /** Fresh-key writes (hot-key overwrites are hotWrites; `ops` has both). */
  writes: number;
  acked: number[];
  /** Fresh keys whose write failed with WRITE_IN_DOUBT: applied or not, nobody knows yet. */
  inDoubt: number[];
  writeErrors: number;
  /** Reads of acknowledged fresh keys (hot-key reads are hotReads; `ops` has both). */
  reads: number;
  readOk: number;
  /** Reads that returned a wrong value or went back in time (hot keys' backward reads included). */
  readWrong: number;
  /** Overwrites of the hot keys (`${prefix}:hot:<writer>`, values h1, h2, ... per key). */
  hotWrites: number;
  hotReads: number;
  /** Hot-key reads older than a value acknowledged, or returned by a read that ended, before the read began. */
  backwards: number;
  readErrors: number;
  /** Per writer: the highest hot value acknowledged, and the highest any read returned (in-doubt ones included). */
  hotAcked: number[];
  hotSeen: number[];
  /** Failures by reason (the ErrorInfo reason, or the gRPC status name). */
  reasons: Record<string, number>;
  firstErrors: string[];
}

/**
 * Writers set `${prefix}:${i}` = `v${i}` for fresh i, and every other time
 * overwrite their own hot key `${prefix}:hot:<w>` with h1, h2, ...; readers
 * read keys already acknowledged and count any other answer as wrong, and
 * read hot keys: a value below one acknowledged, or one another read
 * returned, before the read began went backwards (monotonic reads across
 * readers). Prints a LoadResult as JSON.
 */
export function loadScript(p: LoadParams): string {
  return `
import { KvClient } from '${CLIENT_MODULE}';
const p = ${JSON.stringify(p)};
const O = ${JSON.stringify(OUTCOME)};
const client = new KvClient(p.addresses, { timeoutMs: p.timeoutMs });
const t0 = Date.now();
const end = t0 + p.durationMs;
const res = { t0, ops: [], writes: 0, acked: [], inDoubt: [], writeErrors: 0, reads: 0, readOk: 0, readWrong: 0, readErrors: 0,
  hotWrites: 0, hotReads: 0, backwards: 0, hotAcked: [], hotSeen: [], reasons: {}, firstErrors: [] };
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
const record = (start, outcome) => res.ops.push(start - t0, Date.now() - start, outcome);
const failed = (e) => {
  const reason = (e && e.reason) || 'UNKNOWN';
  res.reasons[reason] = (res.reasons[reason] ?? 0) + 1;
  if (res.firstErrors.length < 8) res.firstErrors.push(reason + ': ' + String(e && e.message || e).slice(0, 200));
  return reason === 'WRITE_IN_DOUBT';
};
let next = 0;
// Per writer: the last value it sent to its hot key.
const hotSent = [];
async function hotWrite(w) {
  const n = (hotSent[w] = (hotSent[w] ?? 0) + 1);
  res.hotWrites++;
  const start = Date.now();
  try { await client.set(p.prefix + ':hot:' + w, 'h' + n); res.hotAcked[w] = Math.max(res.hotAcked[w] ?? 0, n); record(start, O.writeOk); }
  catch (e) { res.writeErrors++; record(start, failed(e) ? O.writeInDoubt : O.writeFailed); await pause(50); }
}
async function hotRead() {
  const ws = res.hotAcked.flatMap((n, w) => (n > 0 ? [w] : []));
  if (ws.length === 0) return pause(20);
  const w = ws[Math.floor(Math.random() * ws.length)];
  const floor = Math.max(res.hotAcked[w] ?? 0, res.hotSeen[w] ?? 0);
  res.hotReads++;
  const start = Date.now();
  try {
    const g = await client.get(p.prefix + ':hot:' + w);
    record(start, O.readOk);
    const n = g.found ? Number(g.value.toString().slice(1)) : 0;
    res.hotSeen[w] = Math.max(res.hotSeen[w] ?? 0, n);
    if (!(n >= floor)) { res.backwards++; res.readWrong++; if (res.firstErrors.length < 8) res.firstErrors.push('STALE: hot key ' + w + ' read ' + (g.found ? 'h' + n : 'nothing') + ' after h' + floor); }
  } catch (e) { res.readErrors++; failed(e); record(start, O.readFailed); await pause(50); }
}
async function writer(_, w) {
  for (let round = 0; Date.now() < end; round++) {
    if (round % 2 === 1) { await hotWrite(w); continue; }
    const i = next++;
    res.writes++;
    const start = Date.now();
    try { await client.set(p.prefix + ':' + i, 'v' + i); res.acked.push(i); record(start, O.writeOk); }
    catch (e) {
      res.writeErrors++;
      if (failed(e)) { res.inDoubt.push(i); record(start, O.writeInDoubt); } else record(start, O.writeFailed);
      await pause(50);
    }
  }
}
async function reader() {
  for (let round = 0; Date.now() < end; round++) {
    if (round % 2 === 1) { await hotRead(); continue; }
    if (res.acked.length === 0) { await pause(20); continue; }
    const i = res.acked[Math.floor(Math.random() * res.acked.length)];
    res.reads++;
    const start = Date.now();
    try {
      const g = await client.get(p.prefix + ':' + i);
      record(start, O.readOk);
      if (g.found && g.value.toString() === 'v' + i) res.readOk++;
      else { res.readWrong++; if (res.firstErrors.length < 8) res.firstErrors.push('WRONG: ' + i + ' read ' + (g.found ? g.value.toString() : 'not found')); }
    } catch (e) { res.readErrors++; failed(e); record(start, O.readFailed); await pause(50); }
  }
}
await Promise.all([...Array.from({ length: p.workers }, writer), ...Array.from({ length: p.workers }, reader)]);
client.close();
// exit only once the output is flushed: a pipe takes it in 64 KiB pieces.
process.stdout.write(JSON.stringify(res) + '\\n', () => process.exit(0));
`;
}

export interface VerifyResult {
  checked: number;
  missing: number[];
  wrong: number[];
  errors: number;
  /** In-doubt writes found applied, and not applied (missing): either is fine; a wrong value is not. */
  inDoubtApplied: number;
  inDoubtAbsent: number;
  /** Hot keys now below what was acknowledged or read during the load: `w: now < floor`. */
  hotBehind: string[];
}

/**
 * Reads every acknowledged `${prefix}:${i}` (mget in batches) and reports
 * the ones not equal to `v${i}`; reads each in-doubt key (missing or `v${i}`
 * are both possible outcomes, anything else is wrong) and each hot key,
 * which must hold at least the highest value acknowledged or read during
 * the load (a value a reader saw was durable, in-doubt or not).
 */
export function verifyScript(
  addresses: string[],
  prefix: string,
  acked: number[],
  load?: Pick<LoadResult, 'inDoubt' | 'hotAcked' | 'hotSeen'>,
): string {
  const inDoubt = load?.inDoubt ?? [];
  const floors = (load?.hotAcked ?? []).map((a, w) => Math.max(a ?? 0, load?.hotSeen[w] ?? 0));
  return `
import { KvClient } from '${CLIENT_MODULE}';
const addresses = ${JSON.stringify(addresses)};
const prefix = ${JSON.stringify(prefix)};
const acked = ${JSON.stringify(acked)};
const inDoubt = new Set(${JSON.stringify(inDoubt)});
const floors = ${JSON.stringify(floors)};
const client = new KvClient(addresses, { timeoutMs: 5000 });
const res = { checked: 0, missing: [], wrong: [], errors: 0, inDoubtApplied: 0, inDoubtAbsent: 0, hotBehind: [] };
async function mget(keys) {
  for (let attempt = 0; attempt < 5; attempt++) {
    try { return await client.mget(keys); }
    catch { res.errors++; await new Promise((r) => setTimeout(r, 500)); }
  }
  return undefined;
}
const all = [...acked, ...inDoubt];
for (let b = 0; b < all.length; b += 100) {
  const batch = all.slice(b, b + 100);
  const items = await mget(batch.map((i) => prefix + ':' + i));
  if (!items) { res.missing.push(...batch.filter((i) => !inDoubt.has(i))); continue; }
  items.forEach((it, j) => {
    const i = batch[j];
    if (inDoubt.has(i)) {
      if (!it.found) res.inDoubtAbsent++;
      else if (it.value.toString() === 'v' + i) res.inDoubtApplied++;
      else res.wrong.push(i);
      return;
    }
    res.checked++;
    if (!it.found) res.missing.push(i);
    else if (it.value.toString() !== 'v' + i) res.wrong.push(i);
  });
}
const hot = await mget(floors.map((_, w) => prefix + ':hot:' + w));
floors.forEach((floor, w) => {
  const it = hot && hot[w];
  const n = it && it.found ? Number(it.value.toString().slice(1)) : 0;
  if (floor > 0 && !(n >= floor)) res.hotBehind.push(w + ': h' + n + ' < h' + floor);
});
client.close();
// exit only once the output is flushed: a pipe takes it in 64 KiB pieces.
process.stdout.write(JSON.stringify(res) + '\\n', () => process.exit(0));
`;
}
