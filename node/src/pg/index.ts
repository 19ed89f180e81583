// The PostgreSQL layer of a node: what the rest of the node imports.
export { PgStore, type PgStoreDeps, type PgStoreOptions } from './store.js';
export {
  START_CURSOR,
  type ChangeCursor,
  type ChangePage,
  type ConditionalResult,
  type Row,
  type WriteCondition,
  type VersionedStore,
  type WriteOp,
} from './types.js';
export {
  InvalidKeyError,
  InvalidWriteError,
  PgUnavailableError,
  VersionMismatchError,
  type PgUnavailableReason,
} from './errors.js';
export { MAX_KEY_BYTES } from './validate.js';
