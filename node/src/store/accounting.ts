// How the memory store accounts an entry against its byte budget:
//
//   UTF-8 bytes of the key + ENTRY_OVERHEAD_BYTES
//   + for a value (not a tombstone): its length + VALUE_OVERHEAD_BYTES
//
// The constants estimate V8's cost beyond the raw key and value bytes on a
// 64-bit Node 20 (no pointer compression). Measured with
// `node --expose-gc bench/dist/ring-bench.js` (section "memory per
// entry"): fill a store with 200k entries of 16-character keys, half of them
// with a TTL, and divide the growth of heapUsed + arrayBuffers after a full
// GC by the entry count:
//   tombstones                        ~156 B beyond the key
//   100 B values from the Buffer pool ~255 B beyond key + value
//   1000 B values from the pool       ~292 B
//   100-4096 B values with their own ArrayBuffer ~334-338 B
// What the bytes are: a Map entry (3 pointers, plus buckets and the slack of
// a power-of-two table), the entry object (header + 8 fields), the key
// string's header, a heap number for a fractional expiry time; and for a
// value, the Buffer object (a JSTypedArray is ~10 pointers) plus, when it
// does not share Node's 8 KiB pool, its own ArrayBuffer and backing store.
// The constants sit at or just above those figures so that the budget bounds
// real memory rather than flattering it.

/** Per-entry cost beyond the key's bytes, for every entry (tombstones included). */
export const ENTRY_OVERHEAD_BYTES = 160;
/** Extra cost of an entry that holds a value: the Buffer object and its share of an ArrayBuffer. */
export const VALUE_OVERHEAD_BYTES = 160;

/** Bytes an entry is accounted (see above); value null = a tombstone. */
export function entryBytes(key: string, value: Buffer | null): number {
  const keyBytes = Buffer.byteLength(key, 'utf8') + ENTRY_OVERHEAD_BYTES;
  return value === null ? keyBytes : keyBytes + value.length + VALUE_OVERHEAD_BYTES;
}

// A floor (floors.ts: what the store remembers of an entry that left it) is
// a Map entry, a small object (version, expired flag, size) and the key
// string. By the tombstone figure above (~156 B beyond the key for a Map
// entry, an 8-field object and the key's header), dropping five fields
// leaves ~116 B; the constant sits just above.

/** Per-floor cost beyond the key's bytes. Below ENTRY_OVERHEAD_BYTES, so evicting an entry for its floor always frees bytes. */
export const FLOOR_OVERHEAD_BYTES = 128;

/** Bytes a floor is accounted. */
export function floorBytes(key: string): number {
  return Buffer.byteLength(key, 'utf8') + FLOOR_OVERHEAD_BYTES;
}
