// The scenarios of `make faults`: each a fault (or mix of faults) under the
// workload. Durations shrink in the short form (KVRING_FAULTS_SHORT=1) that
// CI runs; KVRING_FAULTS_MS overrides them.
import { loseKey, restorePostgresFromCopy, rollBackInPostgres } from './faults-data.js';
import { SELF } from './env.js';
import {
  drainAndRestart,
  flakyPeerLinks,
  fullRestart,
  killAndRestart,
  killPostgres,
  legacyFault,
  nodeDown,
  partitionFromPeers,
  partitionFromPostgres,
  pause,
  repeat,
  sleep,
} from './faults.js';
import { herd, measureAvailability, percent, waitReadThrough } from './measures.js';
import { membershipChanges } from './membership.js';
import { SHORT, type ScenarioSpec } from './scenario.js';

const faultMs = (full: number, short: number): number =>
  Number(process.env.KVRING_FAULTS_MS ?? (SHORT ? short : full));

/**
 * The membership scenario's discovery interval (the node's default is 5 s):
 * the documented residual's window is one such interval.
 */
const DISCOVERY_MS = 1_000;
/** Discovery reads a member stays missing from DNS (a deleted pod's replacement without an IP yet). */
const DNS_GAP_READS = 3;

/** Longer than the failure detector's timeout (KVRING_FAILURE_TIMEOUT is 1 s, see env.ts). */
const PAUSE_MS = 2_500;

export const SCENARIOS: Record<string, ScenarioSpec> = {
  kill: {
    name: 'kill',
    description:
      'SIGKILL of a node (every other time the coordinator with the most writes in flight), restart',
    faultMs: faultMs(30_000, 10_000),
    faults: (ctx) => repeat(ctx, 1_500, (r) => killAndRestart(ctx, r, 1_000)),
  },
  pause: {
    name: 'pause',
    description: `SIGSTOP of a node for ${PAUSE_MS} ms (failure timeout 1 s), then SIGCONT`,
    faultMs: faultMs(30_000, 10_000),
    faults: (ctx) => repeat(ctx, 1_500, (r) => pause(ctx, r, PAUSE_MS)),
  },
  'partition-peers': {
    name: 'partition-peers',
    description:
      'one node cut off from its peers (both directions) for 4 s; clients and PostgreSQL still reach it',
    faultMs: faultMs(30_000, 10_000),
    faults: (ctx) => repeat(ctx, 1_500, (r) => partitionFromPeers(ctx, r, 4_000)),
  },
  'flaky-network': {
    name: 'flaky-network',
    description: "one node's links to its peers dead for 50-250 ms, up for 100-500 ms, for 6 s at a time",
    faultMs: faultMs(30_000, 10_000),
    faults: (ctx) => repeat(ctx, 1_500, (r) => flakyPeerLinks(ctx, r, 6_000)),
  },
  'partition-postgres': {
    name: 'partition-postgres',
    description: 'one node cut off from PostgreSQL for 4 s (its connections stall)',
    faultMs: faultMs(30_000, 10_000),
    faults: (ctx) => repeat(ctx, 1_500, (r) => partitionFromPostgres(ctx, r, 4_000)),
  },
  'postgres-restart': {
    name: 'postgres-restart',
    description: 'PostgreSQL SIGKILLed (postmaster and backends) and restarted after 2 s',
    faultMs: faultMs(30_000, 10_000),
    faults: (ctx) => repeat(ctx, 3_000, () => killPostgres(ctx, 2_000)),
  },
  legacy: {
    name: 'legacy',
    description:
      'legacy API slow (500 ms, then 1.5 s > the 1 s timeout), failing (50% and 100% 503), hanging; then a herd',
    faultMs: faultMs(30_000, 10_000),
    // Every legacy key may be read, so read-through keeps reaching the API.
    workload: { legacyKeys: 1_000 },
    faults: (ctx) => {
      const modes = [
        { label: 'slow 500 ms', patch: { latencyMs: 500 } },
        { label: 'failing 50%', patch: { failureRate: 0.5 } },
        { label: 'slow 1500 ms', patch: { latencyMs: 1_500 } },
        { label: 'failing 100%', patch: { failureRate: 1 } },
        { label: 'hanging', patch: { hang: true } },
      ];
      return repeat(ctx, 1_000, (r) => {
        const m = modes[r % modes.length]!;
        return legacyFault(ctx, m.label, m.patch, 2_000);
      });
    },
    afterHeal: async (env, extra) => {
      const ms = await waitReadThrough(env, 30_000);
      extra['read-through working again after the legacy API healed (ms; breakers stay open 10 s)'] =
        ms ?? 'not within 30 s';
    },
    after: async (env, extra) => {
      const hit = await herd(env, 'user:777', 1_000, 100);
      extra['herd: legacy calls for 1,000 concurrent misses of one key (legacy 100 ms)'] = hit.legacyCalls;
      extra['herd: requests answered with the value'] = hit.found;
      const miss = await herd(env, 'user:5000', 1_000, 100);
      extra['herd: legacy calls for 1,000 concurrent misses of a key the legacy API lacks'] =
        miss.legacyCalls;
    },
  },
  'clock-skew': {
    name: 'clock-skew',
    description: 'kv-1 runs 2 h behind (libfaketime) while nodes are SIGKILLed and restarted',
    faultMs: faultMs(30_000, 10_000),
    faketime: { 1: '-2h' },
    faults: (ctx) => repeat(ctx, 1_500, (r) => killAndRestart(ctx, r, 1_000)),
  },
  'full-restart': {
    name: 'full-restart',
    description: 'every node SIGKILLed at once and restarted after 1 s, mid-workload',
    faultMs: faultMs(30_000, 10_000),
    faults: (ctx) => repeat(ctx, 4_000, () => fullRestart(ctx, 1_000)),
  },
  'node-down': {
    name: 'node-down',
    description: 'the busiest coordinator SIGKILLed and kept down: availability, hints, then its return',
    faultMs: faultMs(30_000, 10_000),
    faults: async (ctx) => {
      // Let hints and load build up on a healthy cluster first.
      await sleep(1_000);
      await nodeDown(ctx);
    },
    during: async (ctx, extra) => {
      // The probe starts once the others see the node down.
      while (ctx.figures.detectMs.length + ctx.figures.undetected === 0 && performance.now() < ctx.deadline)
        await sleep(50);
      const a = await measureAvailability(ctx.env, ctx.deadline - 250);
      extra['availability with one node down: GET'] = percent(a.getsOk, a.gets);
      extra['availability with one node down: SET'] = percent(a.setsOk, a.sets);
    },
  },
  'control-rollback': {
    name: 'control-rollback',
    description:
      'control: an older acknowledged value written back into PostgreSQL under a new version; the checkers must catch it',
    faultMs: faultMs(15_000, 8_000),
    expectViolations: true,
    faults: async (ctx) => {
      await sleep(2_000); // acknowledged writes to roll back
      await repeat(ctx, 1_500, (r) => rollBackInPostgres(ctx, r));
    },
  },
  'control-stale': {
    name: 'control-stale',
    description:
      'control: kv-0 misconfigured with R=W=1 (N=1, alone in its own ring) and cut off from its peers; the checkers must report stale reads',
    faultMs: faultMs(15_000, 8_000),
    expectViolations: true,
    mustReport: 'staleReads',
    // R + W > N is enforced per node, so R=W=1 takes N=1; the node that
    // believes it is alone answers reads from its own copy alone.
    perNodeEnv: {
      0: {
        KVRING_PEERS: SELF,
        KVRING_REPLICATION_FACTOR: '1',
        KVRING_READ_QUORUM: '1',
        KVRING_WRITE_QUORUM: '1',
      },
    },
    faults: (ctx) => repeat(ctx, 1_000, () => partitionFromPeers(ctx, 0, 3_000)),
  },
  'control-lost': {
    name: 'control-lost',
    description:
      "control: a key's PostgreSQL row and every replica's copy deleted; the checkers must report lost writes",
    faultMs: faultMs(15_000, 8_000),
    expectViolations: true,
    mustReport: 'lost',
    faults: async (ctx) => {
      await sleep(2_000); // acknowledged writes to lose
      await repeat(ctx, 3_000, (r) => loseKey(ctx, r));
    },
  },
  'eviction-flaky': {
    name: 'eviction-flaky',
    description:
      "eviction pressure (filler every 2 ms) while one node's peer links flap, so hints, replication frames and repairs arrive late; anti-entropy at its default",
    faultMs: faultMs(30_000, 10_000),
    defaultAntiEntropy: true,
    workload: { fillerGapMs: 2 },
    faults: (ctx) => repeat(ctx, 1_000, (r) => flakyPeerLinks(ctx, r, 4_000)),
  },
  'ttl-heal': {
    name: 'ttl-heal',
    description:
      'a node cut off from its peers for 4 s of TTL overwrites (TTLs 0.5-2.5 s), healed after they expired; every other time then drained and restarted; anti-entropy at its default',
    faultMs: faultMs(30_000, 10_000),
    defaultAntiEntropy: true,
    workload: { ttlKeys: 4 },
    faults: (ctx) =>
      repeat(ctx, 1_000, async (r) => {
        await partitionFromPeers(ctx, r, 4_000);
        // A restart empties the node's memory: only every other round, so
        // what the partitioned replica kept is there for reads to meet.
        if (r % 2 === 1) await drainAndRestart(ctx, r, 1_000);
      }),
  },
  drain: {
    name: 'drain',
    description: 'a node drained under load, SIGTERMed, back after 1 s; anti-entropy at its default',
    faultMs: faultMs(30_000, 10_000),
    defaultAntiEntropy: true,
    faults: (ctx) => repeat(ctx, 1_500, (r) => drainAndRestart(ctx, r, 1_000)),
  },
  membership: {
    name: 'membership',
    description:
      `nodes found through DNS (SRV, ${DISCOVERY_MS} ms refresh, member hold-down at its default): ` +
      'scale 3 -> 4 (a pod listed and started), a member missing from DNS for ' +
      `${DNS_GAP_READS} discovery reads, 4 -> 3 (Drain on the peer port as the operator does, SIGTERM, records removed), another gap; again`,
    faultMs: faultMs(60_000, 20_000),
    standby: 1,
    dns: { service: 'kv-peers.faults.svc.cluster.local', intervalMs: DISCOVERY_MS },
    // Each node reads DNS at another moment of the interval: a change reaches
    // the nodes one after the other over up to one interval, the window
    // in which readers on the old ring meet writers on the new one.
    startSpreadMs: DISCOVERY_MS,
    faults: (ctx) => membershipChanges(ctx, DNS_GAP_READS),
  },
  'postgres-rollback': {
    name: 'postgres-rollback',
    description:
      'detection: PostgreSQL restored to a copy of its data 3 s old (its last commits lost); passes when the nodes report the regression and serve nothing stale',
    faultMs: faultMs(20_000, 6_000),
    defaultAntiEntropy: true,
    detectsRegressions: true,
    faults: async (ctx) => {
      await sleep(1_000);
      await repeat(ctx, 3_000, () => restorePostgresFromCopy(ctx, 3_000));
    },
  },
  mixed: {
    name: 'mixed',
    description:
      'a random fault every round: kill, pause, partition from peers or PostgreSQL, PostgreSQL kill',
    faultMs: faultMs(60_000, 15_000),
    faults: (ctx) =>
      repeat(ctx, 1_000, (r) => {
        const pick = Math.floor(ctx.random() * 5);
        if (pick === 0) return killAndRestart(ctx, r, 1_000);
        if (pick === 1) return pause(ctx, r, PAUSE_MS);
        if (pick === 2) return partitionFromPeers(ctx, r, 3_000);
        if (pick === 3) return partitionFromPostgres(ctx, r, 3_000);
        return killPostgres(ctx, 1_500);
      }),
  },
};
