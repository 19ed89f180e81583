// The ring (hash and token layout), shared by the node and ring-aware
// clients: one source, so both place every key on the same members.
export * from './hash.js';
export * from './ring.js';
