// What every scenario gets: the environment, kubectl (no namespace), kubectl
// in the demo namespace, and a log that prints each figure measured.
import { e2eEnv, type E2eEnv } from '../support/env.js';
import { Kubectl } from '../support/kubectl.js';
import { DEMO_NS } from '../support/kvring.js';

export interface ScenarioContext {
  env: E2eEnv;
  k: Kubectl;
  demo: Kubectl;
  /** Prints one measured figure (it ends up in the jest output and in the report). */
  report: (scenario: string, line: string) => void;
}

export function scenarioContext(): ScenarioContext {
  const env = e2eEnv();
  const k = new Kubectl(env);
  return {
    env,
    k,
    demo: k.in(DEMO_NS),
    report: (scenario, line) => process.stdout.write(`[scenario ${scenario}] ${line}\n`),
  };
}
