// A scenario as a jest test: run it, print its figures, and fail on any
// broken guarantee (with the checker's examples in the message).
import { expect, it } from '@jest/globals';
import { runDir, runScenario, type ScenarioSpec } from './scenario.js';
import { caught, detected, formatText, totalEvictions, writeRunReport } from './summary.js';

/** When this jest process started: summaries older than that belong to another run. */
const STARTED_AT = Date.now() - process.uptime() * 1000;

export function defineScenario(spec: ScenarioSpec): void {
  it(
    `${spec.name}: ${spec.description}`,
    async () => {
      const s = await runScenario(spec);
      process.stdout.write(`\n${formatText([s])}\n`);
      writeRunReport(runDir(), STARTED_AT - 1000);
      expect(s.error).toBeUndefined();
      expect(s.faults.faults).toBeGreaterThan(0);
      expect(s.ops.ok).toBeGreaterThan(0);
      // Production conditions: the memory budget was reached, over and over.
      expect(totalEvictions(s)).toBeGreaterThan(0);
      if (spec.expectViolations) {
        // The control: the suite must see what it broke, with both checkers.
        expect(s.porcupine?.verdict).toBe('not linearizable');
        expect(s.porcupine?.visualizations.length).toBeGreaterThan(0);
        expect(caught(s)).toBe(true);
        if (spec.mustReport) expect(s.check[spec.mustReport]).toBeGreaterThan(0);
        return;
      }
      if (spec.detectsRegressions) {
        expect({
          versionRegressionsReported: s.versionRegressions + s.regressionErrors > 0,
          detected: detected(s),
          staleReads: s.check.staleReads,
          // Writes PostgreSQL lost are expected here (it is the fault), and so
          // are replicas still holding them at the end; any other example (a
          // stale read, a conflict, a phantom) is a finding.
          examples: s.check.examples.filter((e) => !/^(lost|final read != PostgreSQL): /.test(e)),
        }).toEqual({ versionRegressionsReported: true, detected: true, staleReads: 0, examples: [] });
        return;
      }
      const c = s.check;
      expect({
        lost: c.lost,
        deletesLost: c.deletesLost,
        staleReads: c.staleReads,
        resurrected: c.resurrected,
        phantomValues: c.phantomValues,
        failedWritesVisible: c.failedWritesVisible,
        versionConflicts: c.versionConflicts,
        finalReadMismatches: c.finalReadMismatches,
        ttlExpiredServed: c.ttlExpiredServed,
        finalReadErrors: s.finalReadErrors,
        divergentAfterBound: s.divergentAfterBound,
        broken: s.faults.broken,
        crashes: s.crashes.map((x) => `${x.node} exited (code ${x.code}, signal ${x.signal})`),
        examples: c.examples,
      }).toEqual({
        lost: 0,
        deletesLost: 0,
        staleReads: 0,
        resurrected: 0,
        phantomValues: 0,
        failedWritesVisible: 0,
        versionConflicts: 0,
        finalReadMismatches: 0,
        ttlExpiredServed: 0,
        finalReadErrors: 0,
        divergentAfterBound: 0,
        broken: [],
        crashes: [],
        examples: [],
      });
      expect(s.porcupine?.verdict).toBe('linearizable');
      expect(s.convergeMs).not.toBeNull();
    },
    spec.faultMs + 300_000,
  );
}
