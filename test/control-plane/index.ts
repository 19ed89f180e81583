// The real-Kubernetes test harness, shared by the operator's integration
// tests and the end-to-end suites.
export {
  findBinaries,
  MissingBinariesError,
  pinnedVersions,
  REPO_ROOT,
  type BinaryName,
} from './binaries.js';
export { clientCertificate, generatePki, type Pki } from './certs.js';
export { ControlPlane, terminate, type CommandResult, type ControlPlaneOptions } from './control-plane.js';
export { freePort } from './ports.js';
export { run, runOk, type RunOptions, type RunResult } from './run.js';
export { eventually, type EventuallyOptions } from './wait.js';
