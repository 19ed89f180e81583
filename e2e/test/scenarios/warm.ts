// Scenario 10: warm restarts through a rolling update. Under a steady
// skewed read load, every pod is replaced; each pod's memory hit ratio
// (kvring_memory_reads_total, read through the API server's pod proxy) is
// printed before the rollout, while its replacement warms up, and over the
// 10 s after the replacement is Ready, beside what its warm-up loaded. The
// ≥ 90%-of-before target is a printed figure; a loose floor is asserted.
import { expect } from '@jest/globals';
import { podReady, type Kubectl } from '../support/kubectl.js';
import { DEMO_NS, getKvc, isReady, nodePods, script, sleep } from '../support/kvring.js';
import type { ScenarioContext } from './context.js';

const KEYS = 3000;
const LOAD_MS = 200_000;
const WINDOW_MS = 10_000;
const ROLLOUT_BOUND_MS = 240_000;
const HTTP_PORT = 8080;
const CLIENT_MODULE = '/app/client/dist/index.js';

/** Seeds the keys, then reads them with a Zipf-like skew (5% writes) until the time is up; prints counts as JSON. */
function skewedLoad(prefix: string, durationMs: number): string {
  return `
import { KvClient } from '${CLIENT_MODULE}';
const client = new KvClient(['demo-peers.${DEMO_NS}.svc:50051'], { timeoutMs: 3000 });
const keys = Array.from({ length: ${KEYS} }, (_, i) => '${prefix}:' + i);
const value = Buffer.alloc(200, 7);
const seed = async (k) => { for (let t = 1; ; t++) { try { return await client.set(k, value); } catch (e) { if (t >= 5) throw e; await new Promise((r) => setTimeout(r, 200 * t)); } } };
for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map(seed));
const cdf = []; let total = 0;
for (let i = 0; i < keys.length; i++) total += 1 / (i + 1);
for (let i = 0, s = 0; i < keys.length; i++) cdf.push((s += 1 / (i + 1) / total));
const pick = () => { const r = Math.random(); let lo = 0, hi = cdf.length - 1; while (lo < hi) { const m = (lo + hi) >> 1; if (cdf[m] < r) lo = m + 1; else hi = m; } return keys[lo]; };
const res = { reads: 0, writes: 0, errors: 0 };
const end = Date.now() + ${durationMs};
console.error('seeded');
await Promise.all(Array.from({ length: 4 }, async () => {
  while (Date.now() < end) {
    try { if (Math.random() < 0.05) { await client.set(pick(), value); res.writes++; } else { await client.get(pick()); res.reads++; } }
    catch { res.errors++; }
  }
}));
client.close();
console.log(JSON.stringify(res));
`;
}

/** A pod's metrics text (empty when it does not answer). */
async function podMetrics(demo: Kubectl, pod: string): Promise<string> {
  const r = await demo.run([
    'get',
    '--raw',
    `/api/v1/namespaces/${DEMO_NS}/pods/${pod}:${HTTP_PORT}/proxy/metrics`,
  ]);
  return r.code === 0 ? r.stdout : '';
}

function sum(text: string, name: string, match = ''): number {
  let s = 0;
  for (const line of text.split('\n'))
    if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(match))
      s += Number(line.slice(line.lastIndexOf(' ') + 1));
  return s;
}

interface Reads {
  hit: number;
  miss: number;
}

async function reads(demo: Kubectl, pod: string): Promise<Reads | undefined> {
  const t = await podMetrics(demo, pod);
  if (!t) return undefined;
  return {
    hit: sum(t, 'kvring_memory_reads_total', 'result="hit"'),
    miss: sum(t, 'kvring_memory_reads_total', 'result="miss"'),
  };
}

const ratio = (a: Reads, b: Reads): number => (b.hit - a.hit) / Math.max(1, b.hit - a.hit + b.miss - a.miss);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export async function warmScenario(c: ScenarioContext): Promise<void> {
  const { demo } = c;
  const r = (line: string) => c.report('14 warm', line);
  const stamp = Date.now().toString(36);
  const pods = (await nodePods(demo)).map((p) => p.metadata.name).sort();
  expect(pods).toHaveLength(3);

  const load = script(demo, skewedLoad(`e2e:warm:${stamp}`, LOAD_MS), LOAD_MS + 120_000);
  // Seeding takes a few seconds; the "before" window starts once reads dominate.
  await sleep(15_000);
  const t0 = new Map<string, Reads>();
  for (const p of pods) t0.set(p, (await reads(demo, p))!);
  await sleep(WINDOW_MS);
  const before = new Map<string, number>();
  for (const p of pods) before.set(p, ratio(t0.get(p)!, (await reads(demo, p))!));

  const uids = new Map((await nodePods(demo)).map((p) => [p.metadata.name, p.metadata.uid]));
  await demo.ok([
    'patch',
    'kvc/demo',
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { podAnnotations: { 'e2e.kvring.dev/warm': stamp } } }),
  ]);
  // Each replacement: from its first sample (warming: not Ready) to Ready, then 10 s more.
  const readyAt = new Map<string, { at: number; reads: Reads }>();
  const during = new Map<string, Reads>();
  const after = new Map<string, number>();
  const start = Date.now();
  while (after.size < pods.length && Date.now() - start < ROLLOUT_BOUND_MS) {
    for (const p of await nodePods(demo)) {
      const name = p.metadata.name;
      if (uids.get(name) === p.metadata.uid || after.has(name)) continue;
      const now = await reads(demo, name);
      if (now === undefined) continue;
      if (!podReady(p)) {
        during.set(name, now);
        continue;
      }
      const at = readyAt.get(name);
      if (at === undefined) readyAt.set(name, { at: Date.now(), reads: now });
      else if (Date.now() - at.at >= WINDOW_MS) after.set(name, ratio(at.reads, now));
    }
    await sleep(500);
  }
  const kvc = await getKvc(demo);
  r(`rollout: ${after.size} of ${pods.length} pods replaced and measured; KVCluster Ready: ${isReady(kvc)}`);

  for (const p of pods) {
    const m = await podMetrics(demo, p);
    const d = during.get(p);
    const b = before.get(p) ?? 0;
    const a = after.get(p);
    r(
      `${p}: memory hit ratio ${pct(b)} before the rollout; while warming ${d ? `${d.hit} hits, ${d.miss} misses` : 'not sampled'}; ` +
        `${a === undefined ? 'not measured' : pct(a)} in the 10 s after Ready ` +
        `(${a === undefined || b === 0 ? '-' : pct(a / b)} of before); warm-up ${sum(m, 'kvring_warmup_keys')} keys, ` +
        `${sum(m, 'kvring_warmup_bytes')} bytes in ${sum(m, 'kvring_warmup_duration_seconds').toFixed(2)} s ` +
        `(stopped: ${['done', 'bytes', 'time', 'disabled', 'failed'].find((x) => sum(m, 'kvring_warmup_stopped', `reason="${x}"`) === 1) ?? '?'})`,
    );
  }
  const done = await load;
  // The load script's own failure, not a JSON parse error, is what to read.
  expect({ code: done.code, stderr: done.stderr.replace(/^seeded\n/, '') }).toEqual({ code: 0, stderr: '' });
  const res = JSON.parse(done.stdout) as { reads: number; writes: number; errors: number };
  r(`load: ${res.reads} reads, ${res.writes} writes, ${res.errors} errors`);

  expect(after.size).toBe(pods.length);
  for (const p of pods) {
    // Loose floor; the ≥ 90% target is the printed figure.
    expect(after.get(p)!).toBeGreaterThanOrEqual(0.5 * before.get(p)!);
    expect(sum(await podMetrics(demo, p), 'kvring_warmup_keys')).toBeGreaterThan(0);
  }
}
