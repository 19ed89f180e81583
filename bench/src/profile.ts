// `make bench --profile DIR`: every node (and the no-op server) runs with
// V8's sampling profiler on (`node --cpu-prof`), which writes one
// .cpuprofile per process into DIR when the process exits (the bench stops
// them gracefully). Open one in Chrome DevTools (Performance, load
// profile) or read the summary printed at the end: the functions with the
// most self time, summed over the processes of one kind.
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The runtime options of a profiled process (NODE_OPTIONS may not carry
 * --cpu-prof): its profile lands in `dir` under V8's default name
 * (CPU.<date>.<time>.<pid>...), so processes started alike (the nodes of a
 * cluster) do not overwrite each other's.
 */
export function profileArgs(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${resolve(dir)}`];
}

/** The part of V8's .cpuprofile format the summary reads. */
interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
    };
  }>;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  /** Microseconds of the system's monotonic clock (what process.hrtime reads). */
  readonly startTime: number;
}

/** A stretch of the monotonic clock, in microseconds: only samples inside it count. */
export interface Window {
  readonly fromUs: number;
  readonly toUs: number;
}

/** Now on the clock V8 stamps profiles with (CLOCK_MONOTONIC), in microseconds. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Calls `fn(sampleNodeId, deltaUs)` for each sample of `p` inside `w` (every sample without one). */
function eachSample(p: CpuProfile, w: Window | undefined, fn: (node: number, dt: number) => void): void {
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (w === undefined || (t >= w.fromUs && t <= w.toUs)) fn(p.samples[i]!, dt);
  }
}

export interface HotFunction {
  /** `name (file:line)`; file shortened to what follows the last node_modules/ or the package folder. */
  readonly where: string;
  /** Share of the busy samples (idle left out; GC and V8's own included) spent in this function itself. */
  readonly selfShare: number;
  readonly selfMs: number;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const m = /\/(node|client|bench|format)\/(dist|src)\/(.*)$/.exec(url);
  if (m) return `${m[1]}/${m[3]}`;
  return url.replace(/^file:\/\//, '');
}

type CallFrame = CpuProfile['nodes'][number]['callFrame'];

/**
 * Self time summed by `keyOf(callFrame)` over the given profiles (samples
 * inside `window`), idle left out, highest first, as shares of the busy time.
 */
function selfTimeBy(
  profiles: readonly CpuProfile[],
  keyOf: (f: CallFrame) => string,
  window: Window | undefined,
): HotFunction[] {
  const selfUs = new Map<string, number>();
  let busyUs = 0;
  for (const p of profiles) {
    const keys = new Map<number, string>();
    for (const n of p.nodes) keys.set(n.id, n.callFrame.functionName === '(idle)' ? '' : keyOf(n.callFrame));
    eachSample(p, window, (node, dt) => {
      const key = keys.get(node) ?? '?';
      if (key === '') return;
      selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
      busyUs += dt;
    });
  }
  return [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([where, us]) => ({ where, selfShare: busyUs > 0 ? us / busyUs : 0, selfMs: us / 1000 }));
}

function functionOf(f: CallFrame): string {
  const name = f.functionName === '' ? '(anonymous)' : f.functionName;
  return f.url === '' ? name : `${name} (${shortUrl(f.url)}:${f.lineNumber + 1})`;
}

/** Self time per function over the given profiles, idle left out, highest first. */
export function hotFunctions(profiles: readonly CpuProfile[], top: number, window?: Window): HotFunction[] {
  return selfTimeBy(profiles, functionOf, window).slice(0, top);
}

/** Where a function's code lives, for self time by area: a package, a Node subsystem, kvring's own, or V8. */
export function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : 'native';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    if (rest[0] === '@kvring') return `kvring ${rest[1]}`;
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const internal = /^node:(?:internal\/)?([a-z0-9_]+)/.exec(url);
  if (internal) return `node:${internal[1]}`;
  const own = /\/(node|client|bench|format)\/(?:dist|src)\//.exec(url);
  return own ? `kvring ${own[1]}` : 'other';
}

/** Self time by area (areaOf) over the given profiles, idle left out, highest first. */
export function hotAreas(profiles: readonly CpuProfile[], window?: Window): HotFunction[] {
  return selfTimeBy(profiles, (f) => areaOf(f.url, f.functionName), window);
}

/** Reads every .cpuprofile in `dir`. */
export function readProfiles(dir: string): CpuProfile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile);
}

export function formatHotFunctions(title: string, hot: readonly HotFunction[]): string {
  const lines = hot.map(
    (h) =>
      `  ${(h.selfShare * 100).toFixed(1).padStart(5)}%  ${h.selfMs.toFixed(0).padStart(7)} ms  ${h.where}`,
  );
  return `${title} (self time, share of the busy samples):\n${lines.join('\n')}`;
}
