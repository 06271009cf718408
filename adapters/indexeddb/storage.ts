/**
 * The storage port over IndexedDB (through `idb`), for the log in a browser's Web Worker.
 *
 * - `commit` is one readwrite transaction over `batches` and `meta`, assembled whole before
 *   the transaction opens (IndexedDB auto-commits at the first await of anything else), with
 *   `durability: 'strict'` only when asked. Requests are issued on the raw transaction (no
 *   promise per request, no unhandled rejections when it aborts); its complete/error/abort
 *   events settle the commit. A request that throws while being issued (a value that cannot
 *   be cloned) aborts the transaction: nothing is half-written. Preconditions (`expect`) are
 *   `get`s issued first in the same transaction, the writes queued right behind them; a
 *   mismatch seen in a `get`'s success callback aborts the transaction (undoing the queued
 *   writes) and the commit rejects with STORAGE_CONFLICT. No lock, one transaction.
 * - `readBatches` is one `getAllKeys` over `[stream, from] … [stream, ∞]` with a count
 *   estimated from `maxBytes` and the batch sizes seen so far, then one `get` per key, all in
 *   flight in the same transaction (much faster in Chromium than one `getAll` of many large
 *   values), repeated (doubling) only if the limits are not reached yet: a read touches about
 *   what it returns. A read that stopped at `maxBytes` starts the next one ahead (a consumer
 *   catching up asks for it next), dropped by any write that deletes or overwrites the stream.
 * - Shared by every tab of the origin: `lock` is a Web Lock `edgelog:<db>:<name>`, `watch`
 *   listens on `BroadcastChannel('edgelog:<db>')`, to which every commit posts its changes
 *   (one message per commit) after the transaction completed.
 * - Another context's upgrade or delete (`versionchange`) closes this connection at once so
 *   that it can proceed; the next call reopens lazily, or fails typed if the database is now
 *   newer than this code. An abnormal close (storage cleared) also reopens lazily.
 * - Errors leave as `EdgelogError`: QuotaExceededError → STORAGE_QUOTA_EXCEEDED,
 *   DataCloneError → INVALID_REQUEST, anything else → STORAGE_ERROR.
 *
 * Needs the IndexedDB globals (`IDBKeyRange`, `IDBRequest`, … as in any browser or worker;
 * in Node, `fake-indexeddb/auto`); `options.indexedDB` chooses the factory.
 */
import { unwrap } from 'idb'
import { EdgelogError } from '../../core/errors.ts'
import type {
  MetaEntry,
  ReadBatchesOptions,
  StorageAdapter,
  StorageCapabilities,
  StorageChange,
  StorageWrite,
  StoredBatch,
  StreamId,
} from '../../core/storage.ts'
import { expectationHolds, storageConflict } from '../../core/storage.ts'
import { checkWrite } from '../memory/validate.ts'
import { toEdgelogError } from './errors.ts'
import { withLock } from './lock.ts'
import { DB_VERSION, openDatabase, type BatchValue, type EdgelogDB } from './schema.ts'

export interface IndexedDBStorageOptions {
  /** The IndexedDB factory (default: the global `indexedDB`). */
  indexedDB?: IDBFactory
  /**
   * How long `open` waits while an older connection in another context blocks the upgrade
   * before failing with STORAGE_ERROR (default 10 s).
   */
  blockedTimeoutMs?: number
}

/** Largest value Chromium keeps inline in LevelDB (bigger ones become separate blob files). */
const PREFERRED_BATCH_BYTES = 60 * 1024
const MAX_GETALL = 4096

/** `get`s issued at once by a read (Chromium: as fast as all at once, docs/benchmarks.md). */
const GETS_IN_FLIGHT = 16

/** At most this many streams keep a prefetched read (a consumer reads a few partitions at a time). */
const MAX_PREFETCHED_STREAMS = 16

interface Prefetch {
  from: number
  toOffset: number
  /** Cleared when a write may have changed what it read. */
  valid: boolean
  read: Promise<{ batches: StoredBatch[]; more: boolean }>
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error)
  })
}

/** One `get` per key, all issued at once in the store's transaction; the values in key order. */
function getEach(store: IDBObjectStore, keys: IDBValidKey[]): Promise<BatchValue[]> {
  const values = new Array<BatchValue>(keys.length)
  if (keys.length === 0) return Promise.resolve(values)
  return new Promise<BatchValue[]>((resolve, reject) => {
    let left = keys.length
    for (let i = 0; i < keys.length; i++) {
      const r = store.get(keys[i]!)
      r.onsuccess = () => {
        values[i] = r.result as BatchValue
        if (--left === 0) resolve(values)
      }
      r.onerror = () => reject(r.error)
    }
  })
}

/** The leading batches within a request's limits (the first always, as readBatches does). */
function limit(batches: StoredBatch[], maxBytes: number, toOffset: number, maxBatches: number): StoredBatch[] {
  let bytes = 0
  let n = 0
  for (; n < batches.length && n < maxBatches; n++) {
    const b = batches[n]!
    if (b.baseOffset >= toOffset || (n > 0 && bytes + b.bytes.byteLength > maxBytes)) break
    bytes += b.bytes.byteLength
  }
  return n === batches.length ? batches : batches.slice(0, n)
}

/** Exactly the view's bytes in a buffer of their own (a view would clone its whole buffer). */
function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes)
}

/** The smallest string greater than every string starting with `prefix`, or undefined (no bound). */
function prefixEnd(prefix: string): string | undefined {
  let end = prefix.length
  while (end > 0 && prefix.charCodeAt(end - 1) === 0xffff) end--
  if (end === 0) return undefined
  return prefix.slice(0, end - 1) + String.fromCharCode(prefix.charCodeAt(end - 1) + 1)
}

function metaRange(prefix: string): IDBKeyRange | undefined {
  if (prefix === '') return undefined
  const end = prefixEnd(prefix)
  return end === undefined ? IDBKeyRange.lowerBound(prefix) : IDBKeyRange.bound(prefix, end, false, true)
}

export class IndexedDBStorage implements StorageAdapter {
  readonly capabilities: StorageCapabilities = { shared: true, preferredBatchBytes: PREFERRED_BATCH_BYTES }
  readonly name: string

  readonly #factory: IDBFactory
  readonly #blockedTimeoutMs: number
  #db: EdgelogDB | undefined
  #reopening: Promise<EdgelogDB> | undefined
  #closed = false
  readonly #channel: BroadcastChannel
  readonly #listeners = new Set<(change: StorageChange) => void>()
  /** Running estimate of stored batch size, to size `getAll` counts. */
  #avgBatchBytes = 4096
  /** Per stream, the read started ahead of the next request (see #prefetch). */
  readonly #prefetched = new Map<StreamId, Prefetch>()

  private constructor(name: string, factory: IDBFactory, db: EdgelogDB, blockedTimeoutMs: number) {
    this.name = name
    this.#factory = factory
    this.#blockedTimeoutMs = blockedTimeoutMs
    this.#adopt(db)
    this.#channel = new BroadcastChannel(`edgelog:${name}`)
    this.#channel.onmessage = (event: MessageEvent) => {
      const changes = event.data as StorageChange[]
      if (!Array.isArray(changes)) return
      // Another context wrote: it may have deleted what a prefetch read (deletes show as meta changes).
      if (changes.some((c) => c.kind === 'meta')) for (const stream of [...this.#prefetched.keys()]) this.#drop(stream)
      for (const change of changes) for (const listener of this.#listeners) listener(change)
    }
  }

  static async open(name: string, options: IndexedDBStorageOptions = {}): Promise<IndexedDBStorage> {
    const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB
    if (!factory) throw new EdgelogError('STORAGE_ERROR', 'IndexedDB is not available here', { retriable: false })
    const blockedTimeoutMs = options.blockedTimeoutMs ?? 10_000
    const db = await IndexedDBStorage.#connect(name, factory, blockedTimeoutMs)
    return new IndexedDBStorage(name, factory, db, blockedTimeoutMs)
  }

  static #connect(name: string, factory: IDBFactory, blockedTimeoutMs: number): Promise<EdgelogDB> {
    return new Promise<EdgelogDB>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      let gaveUp = false
      openDatabase(name, {
        factory,
        blocked: () => {
          timer ??= setTimeout(() => {
            gaveUp = true
            reject(new EdgelogError('STORAGE_ERROR', `IndexedDB ${name}: an older connection in another context blocks the upgrade to version ${DB_VERSION}; close other tabs`))
          }, blockedTimeoutMs)
        },
      }).then(
        (db) => {
          if (timer) clearTimeout(timer)
          if (gaveUp) db.close()
          else resolve(db)
        },
        (error) => {
          if (timer) clearTimeout(timer)
          reject(toEdgelogError(error, `opening ${name}`))
        },
      )
    })
  }

  /** Takes a connection and lets it go when another context needs the database. */
  #adopt(db: EdgelogDB): void {
    this.#db = db
    const raw = unwrap(db)
    raw.onversionchange = () => {
      // Another context upgrades or deletes the database: step aside (pending transactions
      // still finish), and reopen on the next call.
      raw.close()
      if (this.#db === db) this.#db = undefined
    }
    raw.onclose = () => {
      if (this.#db === db) this.#db = undefined
    }
  }

  #connection(): EdgelogDB | Promise<EdgelogDB> {
    if (this.#closed) throw new EdgelogError('CLOSED', `IndexedDBStorage ${this.name} is closed`)
    if (this.#db) return this.#db
    this.#reopening ??= IndexedDBStorage.#connect(this.name, this.#factory, this.#blockedTimeoutMs).then(
      (db) => {
        this.#reopening = undefined
        if (this.#closed) {
          db.close()
          throw new EdgelogError('CLOSED', `IndexedDBStorage ${this.name} is closed`)
        }
        this.#adopt(db)
        return db
      },
      (error) => {
        this.#reopening = undefined
        throw error
      },
    )
    return this.#reopening
  }

  async commit(write: StorageWrite): Promise<void> {
    checkWrite(write)
    this.#invalidate(write)
    // Assemble the whole write before the transaction opens.
    const batches = (write.batches ?? []).map(({ stream, batch }) => ({
      key: [stream, batch.lastOffset] as [string, number],
      value: { baseOffset: batch.baseOffset, lastOffset: batch.lastOffset, maxTimestamp: batch.maxTimestamp, bytes: ownBytes(batch.bytes) } satisfies BatchValue,
    }))
    const expects = write.expect ?? []
    const ranges = (write.deleteRanges ?? [])
      .filter((r) => r.fromOffset < r.toOffset)
      .map((r) => IDBKeyRange.bound([r.stream, r.fromOffset], [r.stream, r.toOffset], false, true))
    const prefixes = write.deleteMetaPrefixes ?? []
    const meta = write.meta ?? []
    if (batches.length + ranges.length + prefixes.length + meta.length + expects.length === 0) {
      if (this.#closed) throw new EdgelogError('CLOSED', `IndexedDBStorage ${this.name} is closed`)
      return
    }

    const connection = this.#connection()
    const db = connection instanceof Promise ? await connection : connection
    let tx: IDBTransaction
    try {
      tx = unwrap(db).transaction(['batches', 'meta'], 'readwrite', { durability: write.durability === 'strict' ? 'strict' : 'relaxed' })
    } catch (error) {
      throw toEdgelogError(error, 'starting a commit')
    }
    /** The key whose precondition failed: the transaction was aborted on purpose. */
    let conflict: string | undefined
    const done = new Promise<void>((resolve, reject) => {
      // A failing request bubbles `error` here, then the transaction aborts with its error in
      // `tx.error`; when the transaction itself fails (quota), its pending requests report
      // AbortError first. So: settle on `abort`, preferring the transaction's own error.
      let requestError: DOMException | null = null
      tx.oncomplete = () => resolve()
      tx.onerror = (event) => {
        const error = (event.target as IDBRequest | null)?.error ?? null
        if (error && error.name !== 'AbortError') requestError ??= error
      }
      tx.onabort = () => reject(
        conflict !== undefined ? storageConflict(conflict) : tx.error ?? requestError ?? new DOMException('the transaction was aborted', 'AbortError'),
      )
    })
    const deletedKeys: IDBRequest<IDBValidKey[]>[] = []
    try {
      const batchStore = tx.objectStore('batches')
      const metaStore = tx.objectStore('meta')
      // Preconditions first; the writes queue behind them and are undone if one fails.
      for (const { key, value } of expects) {
        const request = metaStore.get(key)
        request.onsuccess = () => {
          if (conflict !== undefined || expectationHolds(request.result, value)) return
          conflict = key
          try {
            tx.abort()
          } catch {
            // already finished
          }
        }
      }
      for (const range of ranges) batchStore.delete(range)
      for (const { key, value } of batches) batchStore.put(value, key)
      for (const prefix of prefixes) {
        const range = metaRange(prefix)
        deletedKeys.push(metaStore.getAllKeys(range))
        if (range) metaStore.delete(range)
        else metaStore.clear()
      }
      for (const { key, value } of meta) {
        if (value === undefined) metaStore.delete(key)
        else metaStore.put(value, key)
      }
    } catch (error) {
      // e.g. DataCloneError: nothing of this transaction may stay.
      done.catch(() => {})
      try {
        tx.abort()
      } catch {
        // already finished
      }
      throw toEdgelogError(error, 'committing')
    }
    try {
      await done
    } catch (error) {
      throw toEdgelogError(error, 'committing')
    }
    // Again once applied: a prefetch that started while this commit waited read the old state.
    this.#invalidate(write)
    this.#announce(write, deletedKeys)
  }

  /** Tells the other contexts what this commit changed (one message, after it completed). */
  #announce(write: StorageWrite, deletedKeys: IDBRequest<IDBValidKey[]>[]): void {
    const changes: StorageChange[] = []
    const next = new Map<StreamId, number>()
    for (const { stream, batch } of write.batches ?? []) next.set(stream, Math.max(next.get(stream) ?? 0, batch.lastOffset + 1))
    for (const [stream, nextOffset] of next) changes.push({ kind: 'append', stream, nextOffset })
    const keys = new Set<string>()
    for (const request of deletedKeys) for (const key of request.result ?? []) keys.add(key as string)
    for (const { key } of write.meta ?? []) keys.add(key)
    for (const key of keys) changes.push({ kind: 'meta', key })
    if (changes.length === 0 || this.#closed) return
    try {
      this.#channel.postMessage(changes)
    } catch {
      // a closed channel: nobody to tell
    }
  }

  async readBatches(stream: StreamId, fromOffset: number, options: ReadBatchesOptions): Promise<StoredBatch[]> {
    const { maxBytes, toOffset = Number.POSITIVE_INFINITY, maxBatches = Number.POSITIVE_INFINITY } = options
    if (!(maxBatches > 0) || Number.isNaN(fromOffset)) return []
    const connection = this.#connection()
    const db = connection instanceof Promise ? await connection : connection
    const prefetched = this.#prefetched.get(stream)
    if (prefetched) {
      this.#prefetched.delete(stream)
      if (prefetched.from === fromOffset) {
        const read = await prefetched.read.catch(() => undefined)
        // Still valid (no delete or overwrite of the stream since it started) and not empty:
        // served from it, within this request's limits; otherwise read now.
        if (read && prefetched.valid) {
          const out = limit(read.batches, maxBytes, toOffset, maxBatches)
          if (out.length > 0) {
            if (out.length === read.batches.length && read.more) this.#prefetch(db, stream, out, maxBytes, toOffset)
            return out
          }
        }
      }
    }
    try {
      const read = await this.#read(db, stream, fromOffset, maxBytes, toOffset, maxBatches)
      if (read.more) this.#prefetch(db, stream, read.batches, maxBytes, toOffset)
      return read.batches
    } catch (error) {
      throw toEdgelogError(error, `reading ${stream}`)
    }
  }

  /**
   * A read that stopped at `maxBytes` with more stored after it is most likely followed by a
   * read from where it ended (a consumer catching up): start that read now, in its own
   * transaction, while the caller decodes and hands out these batches. Kept per stream, used
   * only by a read from exactly that offset, dropped by any delete or overwrite of the stream.
   */
  #prefetch(db: EdgelogDB, stream: StreamId, got: StoredBatch[], maxBytes: number, toOffset: number): void {
    if (got.length === 0 || this.#prefetched.size >= MAX_PREFETCHED_STREAMS) return
    const from = got[got.length - 1]!.lastOffset + 1
    const entry: Prefetch = { from, toOffset, valid: true, read: this.#read(db, stream, from, maxBytes, toOffset, Number.POSITIVE_INFINITY) }
    entry.read.catch(() => {})
    this.#prefetched.set(stream, entry)
  }

  /** Drops prefetched reads that a write may have made stale (deletes, or puts below their end). */
  #invalidate(write: StorageWrite): void {
    if (this.#prefetched.size === 0) return
    for (const range of write.deleteRanges ?? []) this.#drop(range.stream)
    for (const { stream, batch } of write.batches ?? []) {
      const entry = this.#prefetched.get(stream)
      if (entry && batch.baseOffset < entry.toOffset) this.#drop(stream)
    }
  }

  #drop(stream: StreamId): void {
    const entry = this.#prefetched.get(stream)
    if (entry) entry.valid = false
    this.#prefetched.delete(stream)
  }

  /**
   * Batches from `fromOffset` in one readonly transaction: `getAllKeys` for the keys of about
   * as many batches as `maxBytes` holds, then one `get` per key, 16 in flight at once — in
   * Chromium several small answers in flight read ~2–4x faster than one `getAll` of many large
   * values (docs/benchmarks.md). Repeats (doubling the count) while the limits are not reached.
   * `more`: it stopped at `maxBytes` with batches left below `toOffset`.
   */
  async #read(db: EdgelogDB, stream: StreamId, fromOffset: number, maxBytes: number, toOffset: number, maxBatches: number): Promise<{ batches: StoredBatch[]; more: boolean }> {
    const out: StoredBatch[] = []
    const store = unwrap(db).transaction('batches', 'readonly').objectStore('batches')
    let bytes = 0
    let lower: [string, number] = [stream, fromOffset]
    let lowerOpen = false
    let count = Math.min(MAX_GETALL, Math.max(1, Math.ceil(Math.max(0, maxBytes) / this.#avgBatchBytes) + 1))
    for (;;) {
      count = Math.min(count, maxBatches - out.length)
      const range = IDBKeyRange.bound(lower, [stream, Number.POSITIVE_INFINITY], lowerOpen, false)
      const keys = (await request(store.getAllKeys(range, count))) as Array<[string, number]>
      let values: BatchValue[] = []
      let seen = 0
      let looked = 0
      for (let i = 0; i < keys.length; i++) {
        // The values in windows of GETS_IN_FLIGHT: a count estimated too high (the first read,
        // before any batch size is known) costs at most one window past maxBytes.
        if (i % GETS_IN_FLIGHT === 0) values = await getEach(store, keys.slice(i, i + GETS_IN_FLIGHT))
        const value = values[i % GETS_IN_FLIGHT]!
        const size = value.bytes.byteLength
        seen += size
        looked++
        if (value.baseOffset >= toOffset) {
          this.#learn(seen, looked)
          return { batches: out, more: false }
        }
        if (out.length > 0 && bytes + size > maxBytes) {
          this.#learn(seen, looked)
          return { batches: out, more: true }
        }
        bytes += size
        out.push({
          baseOffset: value.baseOffset,
          lastOffset: keys[i]![1],
          maxTimestamp: value.maxTimestamp,
          bytes: value.bytes instanceof Uint8Array ? value.bytes : new Uint8Array(value.bytes as ArrayBufferLike),
        })
        if (out.length >= maxBatches) break
      }
      this.#learn(seen, looked)
      if (keys.length < count || out.length >= maxBatches) return { batches: out, more: false }
      lower = [stream, out[out.length - 1]!.lastOffset]
      lowerOpen = true
      count = Math.min(MAX_GETALL, count * 2)
    }
  }

  #learn(bytes: number, batches: number): void {
    if (batches > 0) this.#avgBatchBytes = Math.max(64, Math.round(this.#avgBatchBytes * 0.75 + (bytes / batches) * 0.25))
  }

  async getMeta<T = unknown>(key: string): Promise<T | undefined> {
    const connection = this.#connection()
    const db = connection instanceof Promise ? await connection : connection
    try {
      return (await db.get('meta', key)) as T | undefined
    } catch (error) {
      throw toEdgelogError(error, `reading ${key}`)
    }
  }

  async listMeta<T = unknown>(prefix: string): Promise<Array<MetaEntry<T>>> {
    const connection = this.#connection()
    const db = connection instanceof Promise ? await connection : connection
    try {
      const store = db.transaction('meta', 'readonly').store
      const range = metaRange(prefix)
      const [keys, values] = await Promise.all([store.getAllKeys(range), store.getAll(range)])
      return keys.map((key, i) => ({ key, value: values[i] as T }))
    } catch (error) {
      throw toEdgelogError(error, `listing ${prefix}`)
    }
  }

  lock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new EdgelogError('CLOSED', `IndexedDBStorage ${this.name} is closed`))
    return withLock(`edgelog:${this.name}:${name}`, fn)
  }

  watch(listener: (change: StorageChange) => void): () => void {
    this.#listeners.add(listener)
    return () => {
      this.#listeners.delete(listener)
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#listeners.clear()
    this.#prefetched.clear()
    this.#channel.close()
    this.#db?.close()
    this.#db = undefined
  }
}
