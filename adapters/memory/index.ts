/**
 * The in-process storage adapter: the log in plain arrays and maps, for tests, scripts and
 * short-lived logs. Nothing survives the process.
 *
 * - Per stream, batches sit in an array sorted by lastOffset behind a `head` index: an
 *   append past the tail is a push (O(1) amortised), a lookup a binary search, and a delete
 *   from the start (retention) moves `head` and compacts the array only once the dead
 *   prefix outweighs the live part (O(1) amortised, no per-record work).
 * - Meta values are kept as JSON text, so what is stored is isolated from the caller's
 *   objects and a value JSON cannot hold is refused up front; keys are listed from a sorted
 *   key array rebuilt lazily when the key set changed (listing is rare, commit is hot).
 * - `commit` validates the whole write, checks its `expect` preconditions, then applies it
 *   synchronously: all or nothing, and commits apply in call order.
 * - Batch bytes are copied in (one memcpy, into per-stream slabs), so the caller's later
 *   mutation cannot touch what is stored, and handed out zero-copy (`capabilities.zeroCopyReads`): readers must not
 *   mutate or transfer them. A copy per read would allocate per fetch, and with gigabytes of
 *   batches in the heap the collector's work per record would grow with the log.
 * - Except a large batch the in-process producer encoded and the log handed on (core/codec/
 *   trusted.ts): nobody else holds it and it owns its whole buffer, so it is kept as it is.
 */
import { EdgelogError } from '../../core/errors.ts'
import type {
  MetaEntry,
  ReadBatchesOptions,
  StorageAdapter,
  StorageCapabilities,
  StorageWrite,
  StoredBatch,
  StreamId,
} from '../../core/storage.ts'
import { expectationHolds, storageConflict } from '../../core/storage.ts'
import { takeEncodedInProcess } from '../../core/codec/trusted.ts'
import { checkWrite, metaToJSON } from './validate.ts'

/**
 * Batch bytes are copied into large per-stream slabs rather than one buffer per batch: with
 * millions of records in the heap, an allocation per append made the collector's work — hence
 * the cost per record — grow with the log. A slab is freed once no batch in it is referenced
 * (retention deletes from the start of a stream, so old slabs go as a whole).
 */
const SLAB_BYTES = 8 << 20
const OWN_BUFFER_BYTES = 1 << 20
/**
 * A batch the in-process producer made, at least this large and alone in its buffer, is kept
 * without a copy: one buffer per such batch bounds the buffers to one per 16 KiB stored (the
 * collector's per-buffer work stays small), and its size is exact (no slab tail, no memcpy).
 */
const ADOPT_BYTES = 16 << 10

/** One stream's batches, sorted by lastOffset, live from `head`. */
class StreamBatches {
  items: StoredBatch[] = []
  head = 0
  #slab = new Uint8Array(0)
  #used = 0

  /** A copy of `bytes` the store owns (in the current slab, or its own buffer when large), or `bytes` itself (ADOPT_BYTES). */
  copyIn(bytes: Uint8Array): Uint8Array {
    if (bytes.byteLength >= ADOPT_BYTES && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength &&
      bytes.buffer instanceof ArrayBuffer && takeEncodedInProcess(bytes)) return bytes
    if (bytes.byteLength >= OWN_BUFFER_BYTES) return new Uint8Array(bytes)
    if (this.#used + bytes.byteLength > this.#slab.byteLength) {
      this.#slab = new Uint8Array(SLAB_BYTES)
      this.#used = 0
    }
    const view = this.#slab.subarray(this.#used, this.#used + bytes.byteLength)
    view.set(bytes)
    this.#used += bytes.byteLength
    return view
  }

  get size(): number {
    return this.items.length - this.head
  }

  /** Index of the first live batch whose lastOffset >= offset (items.length if none). */
  lowerBound(offset: number): number {
    const items = this.items
    let lo = this.head
    let hi = items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (items[mid]!.lastOffset < offset) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  put(batch: StoredBatch): void {
    const items = this.items
    if (this.head === items.length || batch.lastOffset > items[items.length - 1]!.lastOffset) {
      items.push(batch)
      return
    }
    const i = this.lowerBound(batch.lastOffset)
    if (i < items.length && items[i]!.lastOffset === batch.lastOffset) items[i] = batch
    else items.splice(i, 0, batch)
  }

  /** Removes batches whose lastOffset is in [from, to). */
  deleteRange(from: number, to: number): void {
    if (!(from < to) || this.size === 0) return
    const start = this.lowerBound(from)
    const end = this.lowerBound(to)
    if (start >= end) return
    if (start === this.head) {
      this.head = end
      for (let i = start; i < end; i++) this.items[i] = undefined as unknown as StoredBatch // let the bytes go
      if (this.head === this.items.length) {
        this.items = []
        this.head = 0
      } else if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head)
        this.head = 0
      }
    } else {
      this.items.splice(start, end - start)
    }
  }
}

function safeStringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value)
  } catch {
    return undefined
  }
}

export class MemoryStorage implements StorageAdapter {
  readonly capabilities: StorageCapabilities = { shared: false, zeroCopyReads: true }

  readonly #streams = new Map<StreamId, StreamBatches>()
  readonly #meta = new Map<string, string>()
  /** Every meta key in ascending order, or null when the key set changed since it was built. */
  #sortedKeys: string[] | null = []
  #closed = false

  async commit(write: StorageWrite): Promise<void> {
    this.#open()
    checkWrite(write)
    // Prepare everything that can fail before touching any state.
    const batches = write.batches ?? []
    const meta = (write.meta ?? []).map(({ key, value }) => ({ key, json: value === undefined ? undefined : metaToJSON(key, value) }))
    for (const { key, value } of write.expect ?? []) {
      const json = this.#meta.get(key)
      // Same JSON text is the common case (the core expects what it wrote); else compare values.
      if (json !== undefined && value !== undefined && json === safeStringify(value)) continue
      if (!expectationHolds(json === undefined ? undefined : JSON.parse(json), value)) throw storageConflict(key)
    }

    for (const { stream, fromOffset, toOffset } of write.deleteRanges ?? []) {
      const s = this.#streams.get(stream)
      if (s) {
        s.deleteRange(fromOffset, toOffset)
        if (s.size === 0) this.#streams.delete(stream)
      }
    }
    for (const { stream, batch } of batches) {
      let s = this.#streams.get(stream)
      if (!s) this.#streams.set(stream, (s = new StreamBatches()))
      s.put({ baseOffset: batch.baseOffset, lastOffset: batch.lastOffset, maxTimestamp: batch.maxTimestamp, bytes: s.copyIn(batch.bytes) })
    }
    for (const prefix of write.deleteMetaPrefixes ?? []) {
      const [keys, lo, end] = this.#prefixRange(prefix)
      for (let i = lo; i < end; i++) this.#meta.delete(keys[i]!)
      keys.splice(lo, end - lo) // stays sorted
    }
    for (const { key, json } of meta) {
      if (json === undefined) {
        if (this.#meta.delete(key)) this.#sortedKeys = null
      } else {
        const had = this.#meta.has(key)
        this.#meta.set(key, json)
        if (!had) this.#sortedKeys = null
      }
    }
  }

  async readBatches(stream: StreamId, fromOffset: number, options: ReadBatchesOptions): Promise<StoredBatch[]> {
    this.#open()
    const s = this.#streams.get(stream)
    if (!s) return []
    const { maxBytes, toOffset = Number.POSITIVE_INFINITY, maxBatches = Number.POSITIVE_INFINITY } = options
    const out: StoredBatch[] = []
    let bytes = 0
    const items = s.items
    for (let i = s.lowerBound(fromOffset); i < items.length && out.length < maxBatches; i++) {
      const b = items[i]!
      if (b.baseOffset >= toOffset) break
      if (out.length > 0 && bytes + b.bytes.byteLength > maxBytes) break
      bytes += b.bytes.byteLength
      // Zero-copy (capabilities.zeroCopyReads): the stored bytes, in a fresh record.
      out.push({ baseOffset: b.baseOffset, lastOffset: b.lastOffset, maxTimestamp: b.maxTimestamp, bytes: b.bytes })
    }
    return out
  }

  async getMeta<T = unknown>(key: string): Promise<T | undefined> {
    this.#open()
    const json = this.#meta.get(key)
    return json === undefined ? undefined : (JSON.parse(json) as T)
  }

  async listMeta<T = unknown>(prefix: string): Promise<Array<MetaEntry<T>>> {
    this.#open()
    const [keys, lo, end] = this.#prefixRange(prefix)
    const out: Array<MetaEntry<T>> = []
    for (let i = lo; i < end; i++) out.push({ key: keys[i]!, value: JSON.parse(this.#meta.get(keys[i]!)!) as T })
    return out
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#streams.clear()
    this.#meta.clear()
    this.#sortedKeys = []
  }

  /**
   * The sorted key array and the index range [lo, end) of the keys starting with `prefix`
   * (ascending in UTF-16 code-unit order, as JS compares strings).
   */
  #prefixRange(prefix: string): [string[], number, number] {
    const keys = (this.#sortedKeys ??= [...this.#meta.keys()].sort())
    let lo = 0
    let hi = keys.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (keys[mid]! < prefix) lo = mid + 1
      else hi = mid
    }
    let end = lo
    while (end < keys.length && keys[end]!.startsWith(prefix)) end++
    return [keys, lo, end]
  }

  #open(): void {
    if (this.#closed) throw new EdgelogError('CLOSED', 'MemoryStorage is closed')
  }
}
