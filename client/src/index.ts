// @kvring/client: the TypeScript client of kvring.
export * from './client.js';
