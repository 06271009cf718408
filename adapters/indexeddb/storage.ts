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
 * - `readBatches` reads through a read-ahead per reader (see ReadAhead): one `getAllKeys` over
 *   `[stream, from] … [stream, ∞]` with a count estimated from the bytes wanted and the batch
 *   sizes seen so far, then one `get` per key, 32 in flight in the same transaction (much faster
 *   in Chromium than one `getAll` of many large values), repeated while more is wanted: a first
 *   read touches about what it returns. A read that stopped at `maxBytes` with more stored keeps
 *   reading on, two fetches ahead of its reader (a consumer catching up asks for it next, and
 *   decodes meanwhile), across fetches; dropped by any write that deletes or overwrites what it
 *   read, and by any other tab's metadata change.
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
  /**
   * Reading ahead: a read that stops at its `maxBytes` with more stored keeps reading on, up
   * to `fetches` times that `maxBytes` (default 2; 0 reads only what each read asks for), with
   * `getsInFlight` value requests in flight at once (default 32); all read-aheads together
   * stop reading on past `totalBytes` held (default 32 MiB).
   */
  readAhead?: { fetches?: number; getsInFlight?: number; totalBytes?: number }
}

/** Largest value Chromium keeps inline in LevelDB (bigger ones become separate blob files). */
const PREFERRED_BATCH_BYTES = 60 * 1024
const MAX_GETALL = 4096

/**
 * `get`s a read keeps in flight (in one readonly transaction, after one `getAllKeys`): in
 * Chromium several small answers in flight read ~2–4x faster than one `getAll` of many large
 * values. Issued half a window at a time: a `get` issued alone from each answer costs the
 * worker's thread about twice as much as `get`s issued together (docs/benchmarks.md).
 */
const GETS_IN_FLIGHT = 32

/** A read that found more stored past what it returned keeps reading ahead this many times its `maxBytes`. */
const READ_AHEAD_FETCHES = 2

/** At most this many read-aheads are kept (a consumer reads a few partitions at a time; several readers of one stream each have one). */
const MAX_READ_AHEADS = 16

/** Bytes all read-aheads together hold before they stop reading on (one a read waits on still reads what that read needs). */
const MAX_READ_AHEAD_BYTES = 32 * 1024 * 1024

/**
 * A stream read on ahead of its reader, from `next` (where the next read is expected to start):
 * the batches read so far in `buffer` (from `head`), and a pump (one readonly transaction at a
 * time) that reads on while `bytes` is at most `budget`, until the stored batches end. Used only
 * by a read from exactly `next`; dropped (`valid` false) by any write that may have changed what
 * it read (a delete of the stream, a put at or below `reach`, another context's meta change).
 */
interface ReadAhead {
  stream: StreamId
  next: number
  buffer: StoredBatch[]
  head: number
  /** Bytes of buffer[head…]. */
  bytes: number
  /** The pump reads on while `bytes` is at most this. */
  budget: number
  /** The highest lastOffset whose key the pump has fetched (it continues after it); next - 1 before any. */
  reach: number
  /** The pump's transaction in progress. */
  pumping: boolean
  /** The last pump found no stored batch past `reach`. */
  ended: boolean
  failed: unknown
  valid: boolean
  /** A read is being served from it (others at the same offset read on their own). */
  claimed: boolean
  /** A read waits for it to read more (it reads on whatever the others hold). */
  waiting: boolean
  /** Called on every change (batches read, pump stopped, dropped). */
  wake: (() => void) | undefined
}

/** A key whose value was gone (not in one transaction; never expected). */
const MISSING = {} as BatchValue

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
  readonly #readAheadFetches: number
  readonly #getsInFlight: number
  readonly #readAheadCap: number
  #db: EdgelogDB | undefined
  #reopening: Promise<EdgelogDB> | undefined
  #closed = false
  readonly #channel: BroadcastChannel
  readonly #listeners = new Set<(change: StorageChange) => void>()
  /** Running estimate of stored batch size, to size `getAll` counts. */
  #avgBatchBytes = 4096
  /** Reads kept ahead of their readers (see ReadAhead), oldest first. */
  readonly #readAheads: ReadAhead[] = []
  /** The bytes they hold together. */
  #readAheadBytes = 0

  private constructor(name: string, factory: IDBFactory, db: EdgelogDB, blockedTimeoutMs: number, options: IndexedDBStorageOptions) {
    this.name = name
    this.#factory = factory
    this.#blockedTimeoutMs = blockedTimeoutMs
    this.#readAheadFetches = Math.max(0, options.readAhead?.fetches ?? READ_AHEAD_FETCHES)
    this.#getsInFlight = Math.max(1, Math.floor(options.readAhead?.getsInFlight ?? GETS_IN_FLIGHT))
    this.#readAheadCap = Math.max(0, options.readAhead?.totalBytes ?? MAX_READ_AHEAD_BYTES)
    this.#adopt(db)
    this.#channel = new BroadcastChannel(`edgelog:${name}`)
    this.#channel.onmessage = (event: MessageEvent) => {
      const changes = event.data as StorageChange[]
      if (!Array.isArray(changes)) return
      // Another context wrote: it may have deleted what a prefetch read (deletes show as meta changes).
      if (changes.some((c) => c.kind === 'meta')) for (const ra of [...this.#readAheads]) this.#drop(ra)
      for (const change of changes) for (const listener of this.#listeners) listener(change)
    }
  }

  static async open(name: string, options: IndexedDBStorageOptions = {}): Promise<IndexedDBStorage> {
    const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB
    if (!factory) throw new EdgelogError('STORAGE_ERROR', 'IndexedDB is not available here', { retriable: false })
    const blockedTimeoutMs = options.blockedTimeoutMs ?? 10_000
    const db = await IndexedDBStorage.#connect(name, factory, blockedTimeoutMs)
    return new IndexedDBStorage(name, factory, db, blockedTimeoutMs, options)
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
    // What a read keeps buffered ahead of its reader once it found more stored than it returned.
    const ahead = Math.min(Number.MAX_SAFE_INTEGER, maxBytes * Math.max(1, this.#readAheadFetches))
    for (;;) {
      const connection = this.#connection()
      const db = connection instanceof Promise ? await connection : connection
      // Continue a read-ahead standing exactly here, or start one (reading what this read needs).
      let ra = this.#readAheads.find((r) => r.stream === stream && r.next === fromOffset && !r.claimed && r.valid)
      const fresh = ra === undefined
      if (ra) {
        this.#readAheads.splice(this.#readAheads.indexOf(ra), 1)
        this.#readAheads.push(ra)
      } else {
        ra = this.#startReadAhead(stream, fromOffset)
      }
      ra.claimed = true
      try {
        // Stored batches may have been appended since a pump found the end: look once more.
        if (ra.ended && !ra.pumping && !this.#enough(ra, maxBytes, toOffset, maxBatches)) ra.ended = false
        while (ra.valid && ra.failed === undefined && !this.#enough(ra, maxBytes, toOffset, maxBatches) && !(ra.ended && !ra.pumping)) {
          // At least one batch more than buffered (the first batch may be bigger than maxBytes).
          ra.budget = Math.max(fresh ? maxBytes : ahead, ra.bytes)
          ra.waiting = true
          this.#pump(db, ra)
          if (!ra.pumping) break
          await new Promise<void>((resolve) => { ra!.wake = resolve })
          ra.waiting = false
        }
        if (ra.failed !== undefined) {
          const failed = ra.failed
          this.#drop(ra)
          // A read-ahead that failed on its own (its connection closed since): read afresh, once.
          if (!fresh) continue
          throw toEdgelogError(failed, `reading ${stream}`)
        }
        // Dropped while this read waited (a write changed the stream): read again, afresh.
        if (!ra.valid) continue
        const out = this.#take(ra, maxBytes, toOffset, maxBatches)
        if (out.length > 0) ra.next = out[out.length - 1]!.lastOffset + 1
        // Stopped at maxBytes (more stored, or still being read): the next read most likely starts
        // where this one ended (a consumer catching up): keep reading ahead while it decodes.
        if (out.length > 0 && (ra.head < ra.buffer.length || !ra.ended) && this.#readAheadFetches > 0) {
          ra.budget = ahead
          if (!ra.ended) this.#pump(db, ra)
        }
        return out
      } finally {
        ra.claimed = false
        ra.waiting = false
      }
    }
  }

  #startReadAhead(stream: StreamId, from: number): ReadAhead {
    const ra: ReadAhead = {
      stream, next: from, buffer: [], head: 0, bytes: 0, budget: 0, reach: from - 1,
      pumping: false, ended: false, failed: undefined, valid: true, claimed: false, waiting: false, wake: undefined,
    }
    // Oldest first: the least recently used one no read is served from goes (none: over the count for a while).
    if (this.#readAheads.length >= MAX_READ_AHEADS) {
      const evict = this.#readAheads.find((r) => !r.claimed)
      if (evict) this.#drop(evict)
    }
    this.#readAheads.push(ra)
    return ra
  }

  /** Whether the buffer answers a read with these limits (it holds a batch the read stops before). */
  #enough(ra: ReadAhead, maxBytes: number, toOffset: number, maxBatches: number): boolean {
    let bytes = 0
    for (let i = ra.head, n = 0; i < ra.buffer.length; i++, n++) {
      const b = ra.buffer[i]!
      if (n >= maxBatches || b.baseOffset >= toOffset || (n > 0 && bytes + b.bytes.byteLength > maxBytes)) return true
      bytes += b.bytes.byteLength
    }
    return false
  }

  /** The leading buffered batches within a read's limits (the first always), taken out of the buffer. */
  #take(ra: ReadAhead, maxBytes: number, toOffset: number, maxBatches: number): StoredBatch[] {
    const out: StoredBatch[] = []
    let bytes = 0
    while (ra.head < ra.buffer.length && out.length < maxBatches) {
      const b = ra.buffer[ra.head]!
      if (b.baseOffset >= toOffset || (out.length > 0 && bytes + b.bytes.byteLength > maxBytes)) break
      bytes += b.bytes.byteLength
      out.push(b)
      ra.buffer[ra.head++] = undefined as unknown as StoredBatch
    }
    ra.bytes -= bytes
    this.#readAheadBytes -= bytes
    if (ra.head === ra.buffer.length) {
      ra.buffer = []
      ra.head = 0
    } else if (ra.head >= 1024) {
      ra.buffer = ra.buffer.slice(ra.head)
      ra.head = 0
    }
    return out
  }

  /**
   * Reads on from `ra.reach` in one readonly transaction while the buffer holds at most
   * `ra.budget` bytes: `getAllKeys` for about as many batches as the budget holds, then one
   * `get` per key, up to the window in flight (half a window issued at a time), appended to the buffer
   * in key order as they arrive. Stops at the end of the stored batches (`ended`), or over budget
   * (a later read starts it again). Nothing to do if a pump runs already.
   */
  #pump(db: EdgelogDB, ra: ReadAhead): void {
    if (ra.pumping || ra.ended || !ra.valid || ra.failed !== undefined || !this.#wantsMore(ra)) return
    let tx: IDBTransaction
    try {
      tx = unwrap(db).transaction('batches', 'readonly')
    } catch (error) {
      ra.failed = error
      this.#wake(ra)
      return
    }
    ra.pumping = true
    const store = tx.objectStore('batches')
    /** This pump's own end (a later pump has its own transaction and its own `active`). */
    let active = true
    const stop = (failed?: unknown) => {
      if (!active) return
      active = false
      ra.pumping = false
      if (failed !== undefined && ra.valid) ra.failed = failed
      this.#wake(ra)
    }
    tx.onabort = () => stop(tx.error ?? new DOMException('the transaction was aborted', 'AbortError'))
    const fetchKeys = () => {
      const want = Math.min(MAX_GETALL, Math.max(1, Math.ceil(Math.max(0, ra.budget - ra.bytes) / this.#avgBatchBytes) + 1))
      const range = IDBKeyRange.bound([ra.stream, ra.reach], [ra.stream, Number.POSITIVE_INFINITY], true, false)
      const keysRequest = store.getAllKeys(range, want)
      keysRequest.onerror = () => stop(keysRequest.error)
      keysRequest.onsuccess = () => {
        if (!ra.valid) return stop()
        const keys = keysRequest.result as Array<[string, number]>
        if (keys.length === 0) {
          ra.ended = true
          return stop()
        }
        readValues(keys, keys.length < want)
      }
    }
    const readValues = (keys: Array<[string, number]>, last: boolean) => {
      // Keys fetched: a write of any batch up to here drops this read-ahead (see #invalidate).
      ra.reach = keys[keys.length - 1]![1]
      const values = new Array<BatchValue | undefined>(keys.length)
      let issued = 0
      let delivered = 0
      let seen = 0
      const issue = () => {
        while (issued < keys.length && issued - delivered < this.#getsInFlight) {
          const i = issued++
          const r = store.get(keys[i]!)
          r.onerror = () => stop(r.error)
          r.onsuccess = () => {
            values[i] = (r.result as BatchValue | undefined) ?? MISSING
            deliver()
          }
        }
      }
      const deliver = () => {
        if (!ra.valid) return stop()
        const before = delivered
        while (delivered < keys.length && values[delivered] !== undefined) {
          const value = values[delivered]!
          values[delivered] = undefined
          const lastOffset = keys[delivered]![1]
          delivered++
          if (value === MISSING) continue
          const bytes = value.bytes instanceof Uint8Array ? value.bytes : new Uint8Array(value.bytes as ArrayBufferLike)
          seen += bytes.byteLength
          ra.buffer.push({ baseOffset: value.baseOffset, lastOffset, maxTimestamp: value.maxTimestamp, bytes })
          ra.bytes += bytes.byteLength
          this.#readAheadBytes += bytes.byteLength
        }
        if (delivered > before) this.#wake(ra)
        // Issued in chunks (half the window at a time): in Chromium a get issued on its own from
        // each answer costs the worker's thread about twice as much as gets issued together.
        if (delivered < keys.length) {
          if (issued - delivered <= this.#getsInFlight / 2) issue()
          return
        }
        this.#learn(seen, keys.length)
        if (last) {
          ra.ended = true
          stop()
        } else if (this.#wantsMore(ra)) {
          fetchKeys()
        } else {
          stop()
        }
      }
      issue()
    }
    fetchKeys()
  }

  /** Under its budget, and under the bytes all read-aheads may hold unless a read waits on it. */
  #wantsMore(ra: ReadAhead): boolean {
    return ra.bytes <= ra.budget && (ra.waiting || this.#readAheadBytes <= this.#readAheadCap)
  }

  #wake(ra: ReadAhead): void {
    const wake = ra.wake
    ra.wake = undefined
    wake?.()
  }

  /** Drops read-aheads that a write may have made stale: deletes, or puts at or below what they read. */
  #invalidate(write: StorageWrite): void {
    if (this.#readAheads.length === 0) return
    for (const range of write.deleteRanges ?? []) for (const ra of this.#readAheads.filter((r) => r.stream === range.stream)) this.#drop(ra)
    for (const { stream, batch } of write.batches ?? []) {
      for (const ra of this.#readAheads.filter((r) => r.stream === stream && batch.baseOffset <= r.reach)) this.#drop(ra)
    }
  }

  #drop(ra: ReadAhead): void {
    if (ra.valid) this.#readAheadBytes -= ra.bytes
    ra.valid = false
    ra.buffer = []
    ra.head = 0
    ra.bytes = 0
    const at = this.#readAheads.indexOf(ra)
    if (at >= 0) this.#readAheads.splice(at, 1)
    this.#wake(ra)
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
    for (const ra of [...this.#readAheads]) this.#drop(ra)
    this.#channel.close()
    this.#db?.close()
    this.#db = undefined
  }
}
