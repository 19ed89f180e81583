// Reading busybox `nslookup` output: the suites resolve names from inside a
// pod, through the cluster's DNS, as the workloads do.

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

/** SRV answers: lines like `_p._tcp.svc.ns.svc.cluster.local  service = 0 50 7000 pod-0.svc.ns.svc.cluster.local`. */
export function parseSrv(output: string): SrvRecord[] {
  const out: SrvRecord[] = [];
  for (const line of output.split('\n')) {
    const m = /service = (\d+) (\d+) (\d+) (\S+?)\.?\s*$/.exec(line);
    if (m) out.push({ priority: Number(m[1]), weight: Number(m[2]), port: Number(m[3]), target: m[4]! });
  }
  return out;
}

/** IPv4 answers for the name asked: the `Address:` lines after `Name:` (not the server's own address). */
export function parseA(output: string): string[] {
  const answers = output
    .split(/^Name:/m)
    .slice(1)
    .join('\n');
  const out: string[] = [];
  for (const m of answers.matchAll(/^Address:\s*(\d+\.\d+\.\d+\.\d+)\s*$/gm)) out.push(m[1]!);
  return out;
}
