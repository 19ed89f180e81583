// CPU time of processes, read from /proc (Linux), so the benchmark can charge
// each operation with the CPU the nodes, PostgreSQL, the reference server
// and the load generator itself spent on it.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** The kernel's clock ticks per second (`getconf CLK_TCK`, 100 on Linux). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime in clock ticks. */
  readonly ticks: number;
  /** cutime + cstime: CPU of children this process has reaped. */
  readonly childTicks: number;
}

/**
 * Parses one /proc/PID/stat line. The command name (field 2) is in
 * parentheses and may itself hold spaces and parentheses, so fields are
 * counted from the last ')'.
 */
export function parseProcStat(line: string): ProcStat {
  const close = line.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc/PID/stat line: ${line.slice(0, 80)}`);
  const pid = Number(line.slice(0, line.indexOf(' ')));
  // After ")": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17)
  const f = line
    .slice(close + 2)
    .trim()
    .split(' ');
  const field = (n: number): number => Number(f[n - 3]);
  return {
    pid,
    ppid: field(4),
    ticks: field(14) + field(15),
    childTicks: field(16) + field(17),
  };
}

function readStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // gone, or no /proc
  }
}

/** CPU milliseconds one process has used so far (undefined when it cannot be read). */
export function processCpuMs(pid: number): number | undefined {
  const s = readStat(pid);
  return s === undefined ? undefined : (s.ticks * 1000) / clockTicks();
}

/**
 * CPU milliseconds of a process and all its live descendants, plus what it
 * reaped from dead ones: PostgreSQL forks a backend per connection, and
 * those do the work of a write.
 */
export function processTreeCpuMs(rootPid: number): number | undefined {
  const root = readStat(rootPid);
  if (root === undefined) return undefined;
  const byParent = new Map<number, ProcStat[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return (root.ticks * 1000) / clockTicks();
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s === undefined) continue;
    const list = byParent.get(s.ppid);
    if (list) list.push(s);
    else byParent.set(s.ppid, [s]);
  }
  let ticks = root.ticks + root.childTicks;
  const stack = [rootPid];
  const seen = new Set<number>([rootPid]);
  while (stack.length > 0) {
    for (const child of byParent.get(stack.pop()!) ?? []) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      ticks += child.ticks + child.childTicks;
      stack.push(child.pid);
    }
  }
  return (ticks * 1000) / clockTicks();
}

/** CPU milliseconds this process has used (all threads). */
export function selfCpuMs(): number {
  const viaProc = processCpuMs(process.pid);
  if (viaProc !== undefined) return viaProc;
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Sum over `pids` of processTreeCpuMs; undefined if any cannot be read. */
export function totalCpuMs(pids: readonly number[]): number | undefined {
  let sum = 0;
  for (const pid of pids) {
    const v = processTreeCpuMs(pid);
    if (v === undefined) return undefined;
    sum += v;
  }
  return sum;
}
