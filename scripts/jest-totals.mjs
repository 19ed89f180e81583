// Prints jest's totals from its --json report as the plain line CI reads:
// "N passed, N failed" (", N skipped" when any test was skipped).
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.cache/jest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  console.log(`jest report ${file} unreadable: ${err.message}`);
  console.log('0 passed, 1 failed');
  process.exit(0);
}
// A suite that fails to load counts as a failure even though it has no tests.
const failed = report.numFailedTests + report.numRuntimeErrorTestSuites;
const skipped = report.numPendingTests + report.numTodoTests;
let line = `${report.numPassedTests} passed, ${failed} failed`;
if (skipped > 0) line += `, ${skipped} skipped`;
console.log(line);
