// The PostgreSQL layer of a node: what the rest of the node imports.
export { PgStore, type PgStoreDeps, type PgStoreOptions } from './store.js';
export {
  START_CURSOR,
  type ChangeCursor,
  type ChangePage,
  type Row,
  type VersionedStore,
  type WriteOp,
} from './types.js';
export {
  InvalidKeyError,
  InvalidWriteError,
  PgUnavailableError,
  type PgUnavailableReason,
} from './errors.js';
export { MAX_KEY_BYTES } from './validate.js';
