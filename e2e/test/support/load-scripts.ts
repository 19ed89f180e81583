// Small ES modules the scenarios run in the client pod (node image, from
// /app) with the kvring client library: a writer/reader load that records
// every acknowledged write and overwrites hot keys with increasing values
// (a read must never go backwards), and a check that reads them all back.

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

export interface LoadResult {
  writes: number;
  acked: number[];
  writeErrors: number;
  reads: number;
  readOk: number;
  /** Acknowledged keys read back with another value or as missing (hot keys' backward reads included). */
  readWrong: number;
  /** Overwrites of the hot keys (`${prefix}:hot:<writer>`, values h1, h2, ... per key). */
  hotWrites: number;
  hotReads: number;
  /** Hot-key reads older than the value acknowledged before the read began (stale), or missing. */
  backwards: number;
  readErrors: number;
  firstErrors: string[];
}

/**
 * Writers set `${prefix}:${i}` = `v${i}` for fresh i, and every other time
 * overwrite their own hot key `${prefix}:hot:<w>` with h1, h2, ...; readers
 * read keys already acknowledged and count any other answer as wrong, and
 * read hot keys: a value below the one acknowledged before the read began
 * went backwards. Prints a LoadResult as JSON.
 */
export function loadScript(p: LoadParams): string {
  return `
import { KvClient } from '${CLIENT_MODULE}';
const p = ${JSON.stringify(p)};
const client = new KvClient(p.addresses, { timeoutMs: p.timeoutMs });
const end = Date.now() + p.durationMs;
const res = { writes: 0, acked: [], writeErrors: 0, reads: 0, readOk: 0, readWrong: 0, readErrors: 0, hotWrites: 0, hotReads: 0, backwards: 0, firstErrors: [] };
const note = (e) => { if (res.firstErrors.length < 5) res.firstErrors.push(String(e && e.message || e).slice(0, 200)); };
let next = 0;
// Per writer: the last value it wrote to its hot key, and the last acknowledged.
const hotSent = [];
const hotAcked = [];
async function hotWrite(w) {
  const n = (hotSent[w] = (hotSent[w] ?? 0) + 1);
  res.hotWrites++;
  try { await client.set(p.prefix + ':hot:' + w, 'h' + n); hotAcked[w] = Math.max(hotAcked[w] ?? 0, n); }
  catch (e) { res.writeErrors++; note(e); await new Promise((r) => setTimeout(r, 50)); }
}
async function hotRead() {
  const ws = hotAcked.flatMap((n, w) => (n > 0 ? [w] : []));
  if (ws.length === 0) return;
  const w = ws[Math.floor(Math.random() * ws.length)];
  const floor = hotAcked[w];
  res.hotReads++;
  try {
    const g = await client.get(p.prefix + ':hot:' + w);
    const n = g.found ? Number(g.value.toString().slice(1)) : 0;
    if (!(n >= floor)) { res.backwards++; res.readWrong++; note('hot key ' + w + ' went back to ' + (g.found ? 'h' + n : 'nothing') + ' after h' + floor + ' was acknowledged'); }
  } catch (e) { res.readErrors++; note(e); await new Promise((r) => setTimeout(r, 50)); }
}
async function writer(_, w) {
  for (let round = 0; Date.now() < end; round++) {
    if (round % 2 === 1) { await hotWrite(w); continue; }
    const i = next++;
    res.writes++;
    try { await client.set(p.prefix + ':' + i, 'v' + i); res.acked.push(i); }
    catch (e) { res.writeErrors++; note(e); await new Promise((r) => setTimeout(r, 50)); }
  }
}
async function reader() {
  for (let round = 0; Date.now() < end; round++) {
    if (round % 2 === 1) { await hotRead(); continue; }
    if (res.acked.length === 0) { await new Promise((r) => setTimeout(r, 20)); continue; }
    const i = res.acked[Math.floor(Math.random() * res.acked.length)];
    res.reads++;
    try {
      const g = await client.get(p.prefix + ':' + i);
      if (g.found && g.value.toString() === 'v' + i) res.readOk++;
      else { res.readWrong++; note('wrong read of ' + i + ': ' + (g.found ? g.value.toString() : 'not found')); }
    } catch (e) { res.readErrors++; note(e); await new Promise((r) => setTimeout(r, 50)); }
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
}

/** Reads every acknowledged `${prefix}:${i}` (mget in batches) and reports the ones not equal to `v${i}`. */
export function verifyScript(addresses: string[], prefix: string, acked: number[]): string {
  return `
import { KvClient } from '${CLIENT_MODULE}';
const addresses = ${JSON.stringify(addresses)};
const prefix = ${JSON.stringify(prefix)};
const acked = ${JSON.stringify(acked)};
const client = new KvClient(addresses, { timeoutMs: 5000 });
const res = { checked: 0, missing: [], wrong: [], errors: 0 };
for (let b = 0; b < acked.length; b += 100) {
  const batch = acked.slice(b, b + 100);
  let items;
  for (let attempt = 0; attempt < 5 && !items; attempt++) {
    try { items = await client.mget(batch.map((i) => prefix + ':' + i)); }
    catch { res.errors++; await new Promise((r) => setTimeout(r, 500)); }
  }
  if (!items) { res.missing.push(...batch); continue; }
  items.forEach((it, j) => {
    const i = batch[j];
    res.checked++;
    if (!it.found) res.missing.push(i);
    else if (it.value.toString() !== 'v' + i) res.wrong.push(i);
  });
}
client.close();
// exit only once the output is flushed: a pipe takes it in 64 KiB pieces.
process.stdout.write(JSON.stringify(res) + '\\n', () => process.exit(0));
`;
}
