// @kvring/client: the TypeScript client of kvring.
export * from './client.js';
export * from './admin.js';
export * from './errors.js';
export { mayResend, type CallKind } from './retry.js';
export * from './pipeline.js';
