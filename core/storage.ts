/**
 * The storage port: the one interface every adapter implements (memory, IndexedDB,
 * Durable Object SQLite). It is shaped for a log, not for a key-value toy:
 *
 * - data is whole Kafka record batches, appended and read by offset range, in streams
 *   (one stream per topic partition); a read touches only the batches it returns;
 * - whole segments are deleted as one offset range;
 * - small metadata (topics, partition heads, segments, producer state, groups, committed
 *   offsets) is plain JSON-able values under string keys, listed by prefix in key order;
 * - `commit` applies batches, range deletions and metadata changes atomically: an append
 *   commits the batch together with the partition head, or nothing.
 *
 * The core is the only writer of a stream within one storage instance (it serialises
 * appends per partition). Adapters whose storage is shared by several contexts (browser
 * tabs) say so in `capabilities.shared` and provide `lock` and `watch`; there the core
 * appends optimistically: each commit carries `expect` (the partition head it built on) and
 * the adapter applies it only if storage still holds exactly that, inside its one
 * transaction, else it refuses with STORAGE_CONFLICT and changes nothing.
 */
import { EdgelogError } from './errors.ts'

/** One partition's log. The core names streams `${topicId}/${partition}`. */
export type StreamId = string

export interface StoredBatch {
  /** Offset of the batch's first record (also written into the batch's first 8 bytes). */
  baseOffset: number
  /** Offset of the batch's last record: the key adapters index by. */
  lastOffset: number
  /** Largest record timestamp in the batch (ms since epoch), for offset-by-time lookups. */
  maxTimestamp: number
  /** The whole Kafka RecordBatch v2 (magic 2), as it goes over the wire. */
  bytes: Uint8Array
}

/** Deletes the batches of `stream` whose lastOffset is in [fromOffset, toOffset). */
export interface BatchRange {
  stream: StreamId
  fromOffset: number
  toOffset: number
}

export interface MetaEntry<T = unknown> {
  key: string
  value: T
}

/** A precondition of a commit: the meta value at `key` is (JSON-)equal to `value`; `undefined`: the key is absent. */
export interface StorageExpectation {
  key: string
  value: unknown
}

export interface StorageWrite {
  /**
   * Preconditions, checked atomically with the write (inside the same transaction): if any
   * stored meta value differs from what is expected (compared as JSON values: same keys and
   * values, key order ignored), nothing of the write is applied and `commit` rejects with a
   * retriable `EdgelogError` STORAGE_CONFLICT (see `storageConflict`).
   */
  expect?: StorageExpectation[]
  /** Range deletions run before the puts, so a rewrite (compaction) can replace a range. */
  deleteRanges?: BatchRange[]
  batches?: Array<{ stream: StreamId; batch: StoredBatch }>
  /** Metadata puts; a value of `undefined` deletes the key. */
  meta?: Array<{ key: string; value: unknown }>
  /** Deletes every metadata key that starts with one of these. */
  deleteMetaPrefixes?: string[]
  /**
   * `strict`: the write is on durable storage before `commit` resolves (acks=all).
   * `relaxed`: the store's default (IndexedDB's relaxed durability; memory ignores it).
   */
  durability?: 'strict' | 'relaxed'
}

export interface ReadBatchesOptions {
  /**
   * Stop once the batches returned reach this many bytes. The first batch is always
   * returned whatever its size (as Kafka does), so a reader can always make progress.
   */
  maxBytes: number
  /** Return no batch whose baseOffset is at or past this (exclusive upper bound). */
  toOffset?: number
  /** At most this many batches. */
  maxBatches?: number
}

export interface StorageCapabilities {
  /** Other contexts (tabs) write the same store: the core commits with `expect` and reloads on conflict. */
  shared: boolean
  /** Largest stored batch the store handles efficiently; producers aim below it. */
  preferredBatchBytes?: number
  /** Largest single stored value the store accepts at all. */
  maxValueBytes?: number
  /**
   * `readBatches` hands out the stored bytes themselves (zero-copy, the memory adapter):
   * readers must neither mutate nor transfer them. Otherwise every read returns fresh bytes.
   * Copying each read would allocate per fetch and, with a large log in a JS heap, make the
   * garbage collector's work — hence the cost per record — grow with the log's length.
   */
  zeroCopyReads?: boolean
}

export type StorageChange =
  | { kind: 'append'; stream: StreamId; nextOffset: number }
  | { kind: 'meta'; key: string }

export interface StorageAdapter {
  readonly capabilities: StorageCapabilities

  /** Atomic: all of it is applied, or none of it (and it throws). */
  commit(write: StorageWrite): Promise<void>

  /**
   * Batches of `stream` in offset order, starting with the one holding `fromOffset`
   * (the first whose lastOffset >= fromOffset), within the limits of `options`.
   */
  readBatches(stream: StreamId, fromOffset: number, options: ReadBatchesOptions): Promise<StoredBatch[]>

  getMeta<T = unknown>(key: string): Promise<T | undefined>

  /** Every entry whose key starts with `prefix`, in ascending key order. */
  listMeta<T = unknown>(prefix: string): Promise<Array<MetaEntry<T>>>

  /**
   * Mutual exclusion across every context sharing the store (needed only when `shared`).
   * The core takes it for rare read-modify-write work (retention, compaction, producer id
   * allocation), never per append.
   */
  lock?<T>(name: string, fn: () => Promise<T>): Promise<T>

  /** Changes committed by other contexts sharing the store (needed only when `shared`). */
  watch?(listener: (change: StorageChange) => void): () => void

  close(): Promise<void>
}

/** Keys sort lexicographically; offsets in keys are zero-padded so that order is numeric. */
export function padOffset(offset: number): string {
  return offset.toString().padStart(16, '0')
}

/**
 * Equality of two meta values as JSON values (what `expect` compares): primitives by value,
 * arrays element by element, objects by their own enumerable keys whatever their order; a
 * property holding `undefined` counts as absent, as it would in JSON.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b)
  }
  const aArray = Array.isArray(a)
  if (aArray !== Array.isArray(b)) return false
  if (aArray) {
    const x = a as unknown[]
    const y = b as unknown[]
    if (x.length !== y.length) return false
    for (let i = 0; i < x.length; i++) if (!jsonEqual(x[i] ?? null, y[i] ?? null)) return false
    return true
  }
  const x = a as Record<string, unknown>
  const y = b as Record<string, unknown>
  let n = 0
  for (const key of Object.keys(x)) {
    if (x[key] === undefined) continue
    n++
    if (!Object.prototype.hasOwnProperty.call(y, key) || !jsonEqual(x[key], y[key])) return false
  }
  for (const key of Object.keys(y)) if (y[key] !== undefined) n--
  return n === 0
}

/** Checks one precondition against the stored value (`undefined`: absent). */
export function expectationHolds(stored: unknown, expected: unknown): boolean {
  if (expected === undefined || stored === undefined) return expected === undefined && stored === undefined
  return jsonEqual(stored, expected)
}

/** The error every adapter throws when an `expect` precondition fails. */
export function storageConflict(key: string): EdgelogError {
  return new EdgelogError('STORAGE_CONFLICT', `Another writer changed ${key} first; nothing was written (retry after re-reading it)`)
}
