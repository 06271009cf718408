/**
 * The storage port over a SQLite-backed Durable Object's `ctx.storage`.
 *
 * - One row per stored batch, in one table per stream (`b<id>`, the id from `streams`) whose
 *   INTEGER PRIMARY KEY is the batch's last offset, so "the batch holding offset N" is the
 *   first key >= N: a read is one range scan of the rowid that steps only over the rows it
 *   returns (rows read are billed). Schema 1 kept every stream in one `batches` table keyed
 *   `(stream, last_offset)` WITHOUT ROWID: SQLite stores such a row (a ~110 KB BLOB) inside
 *   its key's B-tree, and an insert there took 1.3x one into a rowid table (bench/do.ts);
 *   an index beside a rowid table would cost a second billed row per batch.
 * - Small metadata as JSON text in `meta(key, value)`, listed by key range.
 * - `commit` is one `transactionSync`: a throw anywhere in it rolls everything back. Its
 *   `expect` preconditions are SELECTs at the start of that transaction (STORAGE_CONFLICT
 *   when one fails, before anything is written).
 *
 * A Durable Object is single-threaded and this adapter is its only user of these tables, so
 * there is no locking and no change feed (`capabilities.shared = false`).
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
import { RemoteTier, REMOTE_TIER_SCHEMA } from './remote-tier.ts'
import { RowMeter } from './row-meter.ts'
import {
  checkOffset, checkStream, clampOffset, encodeJson, guard, guardAsync, invalid, prefixEnd, safeJson, toArrayBuffer, translateStorageError, utf8Length,
} from './sql-helpers.ts'

export { translateStorageError }

/** A Durable Object row (and a SQLite BLOB or string in one) holds at most 2 MB. */
export const DO_MAX_VALUE_BYTES = 2_000_000

/** What this adapter needs of `ctx.storage` (workers-types' `DurableObjectStorage`). */
type DoStorage = globalThis.DurableObjectStorage

/**
 * Schema migrations, in order: `MIGRATIONS[i]` takes the schema from version i to i + 1
 * (statements, or a function for what statements cannot say). Append new versions; never
 * edit a shipped one.
 */
const MIGRATIONS: ReadonlyArray<readonly string[] | ((sql: SqlStorage) => void)> = [
  [
    `CREATE TABLE IF NOT EXISTS batches (
       stream TEXT NOT NULL,
       last_offset INTEGER NOT NULL,
       base_offset INTEGER NOT NULL,
       max_ts INTEGER NOT NULL,
       data BLOB NOT NULL,
       PRIMARY KEY (stream, last_offset)
     ) WITHOUT ROWID`,
    `CREATE TABLE IF NOT EXISTS meta (
       key TEXT NOT NULL PRIMARY KEY,
       value TEXT NOT NULL
     ) WITHOUT ROWID`,
  ],
  // 2: one rowid table per stream; what `batches` held moves there.
  (sql) => {
    sql.exec('CREATE TABLE IF NOT EXISTS streams (id INTEGER PRIMARY KEY, stream TEXT NOT NULL UNIQUE)')
    const streams = sql.exec<{ stream: string }>('SELECT DISTINCT stream FROM batches').toArray()
    for (const { stream } of streams) {
      const table = createStreamTable(sql, stream)
      sql.exec(`INSERT INTO ${table} (last_offset, base_offset, max_ts, data) SELECT last_offset, base_offset, max_ts, data FROM batches WHERE stream = ?`, stream)
    }
    sql.exec('DROP TABLE batches')
  },
  // 3: tiered storage (remote-tier.ts): remote segment files, their batch index, orphan files.
  REMOTE_TIER_SCHEMA,
]

/** The table of a stream's batches (`id` from the `streams` table). */
function tableOf(id: number): string {
  return `b${id}`
}

/** Registers a stream and creates its table (inside the caller's transaction); its table name. */
function createStreamTable(sql: SqlStorage, stream: string): string {
  const id = sql.exec<{ id: number }>('INSERT INTO streams (stream) VALUES (?) RETURNING id', stream).one().id
  const table = tableOf(id)
  sql.exec(`CREATE TABLE ${table} (
    last_offset INTEGER PRIMARY KEY,
    base_offset INTEGER NOT NULL,
    max_ts INTEGER NOT NULL,
    data BLOB NOT NULL
  )`)
  return table
}

export const SCHEMA_VERSION = MIGRATIONS.length


export interface SqliteStorageOptions {
  /** Largest batch accepted; defaults to (and may not exceed) the Durable Object row limit. */
  maxValueBytes?: number
  /** Advertised to producers as the batch size to aim for. */
  preferredBatchBytes?: number
  /** Tiered storage (remote-tier.ts): the R2 bucket segments move to; without it nothing moves. */
  remote?: R2Bucket
  /** R2 key prefix of this store's segment files (default `segments/`). */
  remotePrefix?: string
  /** Largest R2 file a move writes (default 16 MiB): a bigger segment becomes consecutive files. */
  remoteObjectBytes?: number
  /** Told the rows SQLite read and wrote for this store's statements (billed rows; row-meter.ts). */
  onRows?: (read: number, written: number) => void
}

export class SqliteStorage implements StorageAdapter {
  readonly capabilities: StorageCapabilities
  readonly #storage: DoStorage
  readonly #sql: SqlStorage
  readonly #maxValueBytes: number
  /** Stream → its table, for the streams seen (filled after a commit that created one succeeded). */
  readonly #tables = new Map<StreamId, string>()
  #closed = false
  /** The remote tier: always present (its tables are), moving and reading only with a bucket. */
  readonly remote: RemoteTier
  /** Rows read and written so far, as SQLite counts them. */
  readonly #rows: RowMeter

  /** `storage` is the Durable Object's `ctx.storage`; the schema is created or migrated here, synchronously. */
  constructor(storage: DoStorage, options: SqliteStorageOptions = {}) {
    this.#storage = storage
    this.#rows = new RowMeter(options.onRows)
    this.#sql = this.#rows.wrap(storage.sql)
    this.#maxValueBytes = Math.min(options.maxValueBytes ?? DO_MAX_VALUE_BYTES, DO_MAX_VALUE_BYTES)
    this.capabilities = {
      shared: false,
      maxValueBytes: this.#maxValueBytes,
      preferredBatchBytes: options.preferredBatchBytes ?? 256 * 1024,
    }
    guard(() => migrate(storage))
    this.remote = new RemoteTier(storage, this.#sql, options.remote, {
      prefix: options.remotePrefix ?? 'segments/', objectBytes: options.remoteObjectBytes ?? 16 * 1024 * 1024, now: Date.now,
    })
  }

  /** Rows SQLite read and wrote for this store so far (billed rows). */
  rows(): { read: number; written: number } {
    this.#rows.settle()
    return { read: this.#rows.read, written: this.#rows.written }
  }

  /** Moves the local batches of a sealed range [from, to) of `stream` to R2 (remote-tier.ts); how many moved. */
  async moveToRemote(stream: StreamId, from: number, to: number, hooks?: import('./remote-tier.ts').MoveHooks): Promise<number> {
    this.#open()
    const table = this.#table(stream)
    if (table === undefined) return 0
    return this.remote.move(stream, table, Math.max(from, this.remote.end(stream)), to, hooks)
  }

  async commit(write: StorageWrite): Promise<void> {
    this.#open()
    const batches = write.batches ?? []
    const ranges = write.deleteRanges ?? []
    // Everything that can be checked without storage is checked before touching it.
    for (const { stream, batch } of batches) {
      checkStream(stream)
      checkOffset(batch.baseOffset, 'baseOffset')
      checkOffset(batch.lastOffset, 'lastOffset')
      if (batch.lastOffset < batch.baseOffset) {
        throw new EdgelogError('CORRUPT_MESSAGE', `batch lastOffset ${batch.lastOffset} < baseOffset ${batch.baseOffset}`)
      }
      if (!(batch.bytes instanceof Uint8Array)) throw new EdgelogError('CORRUPT_MESSAGE', 'batch bytes must be a Uint8Array')
      if (batch.bytes.byteLength > this.#maxValueBytes) {
        throw new EdgelogError(
          'MESSAGE_TOO_LARGE',
          `batch of ${batch.bytes.byteLength} bytes is over the Durable Object limit of ${this.#maxValueBytes} bytes`,
        )
      }
    }
    for (const r of ranges) {
      checkStream(r.stream)
      if (typeof r.fromOffset !== 'number' || Number.isNaN(r.fromOffset)) throw invalid(`bad fromOffset ${r.fromOffset}`)
      if (typeof r.toOffset !== 'number' || Number.isNaN(r.toOffset)) throw invalid(`bad toOffset ${r.toOffset}`)
    }

    const expects = write.expect ?? []
    for (const e of expects) if (typeof e?.key !== 'string') throw invalid('an expected metadata key must be a string')

    const sql = this.#sql
    const maxValueBytes = this.#maxValueBytes
    const created = new Map<StreamId, string>()
    let orphaned = 0
    const tableFor = (stream: StreamId): string => {
      const known = created.get(stream) ?? this.#table(stream)
      if (known !== undefined) return known
      const table = createStreamTable(sql, stream)
      created.set(stream, table)
      return table
    }
    guard(() =>
      this.#storage.transactionSync(() => {
        for (const { key, value } of expects) {
          const rows = sql.exec<{ value: string }>('SELECT value FROM meta WHERE key = ?', key).toArray()
          const stored = rows.length === 0 ? undefined : rows[0].value
          // The same JSON text is the common case (the core expects what it wrote).
          if (stored !== undefined && value !== undefined && stored === safeJson(value)) continue
          if (!expectationHolds(stored === undefined ? undefined : JSON.parse(stored), value)) throw storageConflict(key)
        }
        for (const r of ranges) {
          if (!(r.toOffset > r.fromOffset)) continue
          orphaned += this.remote.deleteRange(r.stream, clampOffset(r.fromOffset), clampOffset(r.toOffset))
          const table = created.get(r.stream) ?? this.#table(r.stream)
          if (table === undefined) continue // nothing stored for that stream
          if (r.toOffset > Number.MAX_SAFE_INTEGER) {
            sql.exec(`DELETE FROM ${table} WHERE last_offset >= ?`, clampOffset(r.fromOffset))
          } else {
            sql.exec(`DELETE FROM ${table} WHERE last_offset >= ? AND last_offset < ?`, clampOffset(r.fromOffset), clampOffset(r.toOffset))
          }
        }
        for (const { stream, batch } of batches) {
          sql.exec(
            `INSERT OR REPLACE INTO ${tableFor(stream)} (last_offset, base_offset, max_ts, data) VALUES (?, ?, ?, ?)`,
            batch.lastOffset,
            batch.baseOffset,
            Number.isFinite(batch.maxTimestamp) ? Math.trunc(batch.maxTimestamp) : -1,
            toArrayBuffer(batch.bytes),
          )
        }
        for (const prefix of write.deleteMetaPrefixes ?? []) {
          sql.exec('DELETE FROM meta WHERE key >= ? AND key < CAST(? AS TEXT)', prefix, prefixEnd(prefix))
        }
        for (const { key, value } of write.meta ?? []) {
          if (typeof key !== 'string') throw invalid('metadata key must be a string')
          if (value === undefined) {
            sql.exec('DELETE FROM meta WHERE key = ?', key)
            continue
          }
          // Encoded here, inside the transaction: a value JSON cannot encode (a BigInt, a cycle)
          // throws and rolls back what this commit already did.
          const json = encodeJson(key, value)
          if (json.length * 3 > maxValueBytes && utf8Length(json) > maxValueBytes) {
            throw new EdgelogError('MESSAGE_TOO_LARGE', `metadata value for ${key} is over ${maxValueBytes} bytes`)
          }
          sql.exec('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', key, json)
        }
      }),
    )
    for (const [stream, table] of created) this.#tables.set(stream, table)
    // Files whose last batch this commit deleted: out of R2 now (a failure leaves them to the next sweep).
    if (orphaned > 0) await this.remote.sweep().catch(() => 0)
    // SQLite in a Durable Object is durable once the output gate opens; `sync()` waits for that.
    if (write.durability === 'strict') await guardAsync(() => this.#storage.sync())
  }

  async readBatches(stream: StreamId, fromOffset: number, options: ReadBatchesOptions): Promise<StoredBatch[]> {
    this.#open()
    const { maxBatches } = options
    if (maxBatches !== undefined && maxBatches <= 0) return []
    return guard(() => {
      if (typeof stream !== 'string') return []
      // The oldest batches may be in R2 (remote-tier.ts): those first, then the local rows.
      if (this.remote.end(stream) > fromOffset) return this.#readBoth(stream, fromOffset, options)
      return this.#readLocal(stream, fromOffset, options, [], 0)
    })
  }

  async #readBoth(stream: StreamId, fromOffset: number, options: ReadBatchesOptions): Promise<StoredBatch[]> {
    const remote = await this.remote.read(stream, clampOffset(fromOffset), options)
    if (!remote.more) return remote.batches
    // The remote part ended within the limits: go on locally from where it ends (rows may
    // have been moved meanwhile; the remote end is read again).
    const from = Math.max(fromOffset, remote.batches.length ? remote.batches[remote.batches.length - 1].lastOffset + 1 : this.remote.end(stream))
    return guard(() => this.#readLocal(stream, from, options, remote.batches, remote.bytes))
  }

  #readLocal(stream: StreamId, fromOffset: number, options: ReadBatchesOptions, out: StoredBatch[], bytes: number): StoredBatch[] {
    const { maxBytes, toOffset, maxBatches } = options
    if (maxBatches !== undefined && out.length >= maxBatches) return out
    {
      const table = this.#table(stream)
      if (table === undefined) return out
      const cursor = this.#sql.exec<BatchRow>(
        `SELECT base_offset, last_offset, max_ts, data FROM ${table} WHERE last_offset >= ? ORDER BY last_offset LIMIT ?`,
        clampOffset(fromOffset),
        maxBatches === undefined ? -1 : Math.floor(maxBatches) - out.length,
      )
      // Step the cursor lazily: rows not stepped over are neither read nor billed.
      for (let step = cursor.next(); !step.done; step = cursor.next()) {
        const row = step.value
        // Batches never overlap, so base offsets rise with last offsets: the first one at or
        // past toOffset ends the read (filtering in SQL would scan the rest of the stream).
        if (toOffset !== undefined && row.base_offset >= toOffset) break
        const data = new Uint8Array(row.data)
        if (out.length > 0 && bytes + data.byteLength > maxBytes) break
        out.push({ baseOffset: row.base_offset, lastOffset: row.last_offset, maxTimestamp: row.max_ts, bytes: data })
        bytes += data.byteLength
        if (bytes >= maxBytes) break
      }
      return out
    }
  }

  async getMeta<T = unknown>(key: string): Promise<T | undefined> {
    this.#open()
    return guard(() => {
      const rows = this.#sql.exec<{ value: string }>('SELECT value FROM meta WHERE key = ?', key).toArray()
      return rows.length === 0 ? undefined : (JSON.parse(rows[0].value) as T)
    })
  }

  async listMeta<T = unknown>(prefix: string): Promise<Array<MetaEntry<T>>> {
    this.#open()
    const entries = guard(() =>
      this.#sql
        .exec<{ key: string; value: string }>(
          'SELECT key, value FROM meta WHERE key >= ? AND key < CAST(? AS TEXT) ORDER BY key',
          prefix,
          prefixEnd(prefix),
        )
        .toArray()
        .map((row) => ({ key: row.key, value: JSON.parse(row.value) as T })),
    )
    // SQLite orders by UTF-8 bytes (code points); JavaScript and IndexedDB by UTF-16 code
    // units. They differ only for keys with characters above U+FFFF; sort the JavaScript way
    // so every adapter lists in the same order (a no-op pass on already sorted input).
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    return entries
  }

  async close(): Promise<void> {
    this.#closed = true
  }

  #open(): void {
    if (this.#closed) throw new EdgelogError('CLOSED', 'storage is closed')
    // Every call starts here: the statements of earlier calls are done, count them.
    this.#rows.settle()
  }

  /** The stream's table, or undefined when nothing was ever stored for it. */
  #table(stream: StreamId): string | undefined {
    let table = this.#tables.get(stream)
    if (table === undefined) {
      const rows = this.#sql.exec<{ id: number }>('SELECT id FROM streams WHERE stream = ?', stream).toArray()
      if (rows.length === 0) return undefined
      table = tableOf(rows[0].id)
      this.#tables.set(stream, table)
    }
    return table
  }
}

/** The same class under a name that does not clash with workers-types' `DurableObjectStorage`. */
export { SqliteStorage as DurableObjectSqliteStorage, SqliteStorage as DurableObjectStorage }

interface BatchRow extends Record<string, SqlStorageValue> {
  base_offset: number
  last_offset: number
  max_ts: number
  data: ArrayBuffer
}

function migrate(storage: DoStorage): void {
  const sql = storage.sql
  storage.transactionSync(() => {
    sql.exec('CREATE TABLE IF NOT EXISTS edgelog_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)')
    const rows = sql.exec<{ version: number }>('SELECT version FROM edgelog_schema WHERE id = 1').toArray()
    const current = rows.length === 0 ? 0 : rows[0].version
    if (current > MIGRATIONS.length) {
      throw new EdgelogError('STORAGE_ERROR', `storage schema version ${current} is newer than this code (${MIGRATIONS.length})`, {
        retriable: false,
      })
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      const migration = MIGRATIONS[v]
      if (typeof migration === 'function') migration(sql)
      else for (const statement of migration) sql.exec(statement)
    }
    if (current !== MIGRATIONS.length) {
      sql.exec('INSERT OR REPLACE INTO edgelog_schema (id, version) VALUES (1, ?)', MIGRATIONS.length)
    }
  })
}

