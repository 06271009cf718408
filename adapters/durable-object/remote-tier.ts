/**
 * Kafka's tiered storage (KIP-405) under the storage port, for the Durable Object adapter
 * (docs/tiered-storage.md). The core never sees it: `readBatches` answers from R2 or from the
 * stream's table, and `commit`'s range deletions remove from both tiers.
 *
 * - A moved run of batches is one R2 object: the batches concatenated as stored, which is
 *   Kafka's segment file format (a .log file is a sequence of RecordBatches). A segment over
 *   `objectBytes` becomes several consecutive files; concatenated, they are the segment.
 * - The index stays here, one small row per batch in `remote_index` (last offset → file, byte
 *   position, length, base offset, max timestamp): a read at an offset is one range scan of it
 *   and one ranged GET of exactly the bytes it returns.
 * - The move is crash-safe: the R2 key is first recorded in `remote_orphans`, then the file is
 *   written, then one SQLite transaction checks the local rows are still there, adds the
 *   segment and index rows, deletes the local rows and the orphan record. A crash before that
 *   transaction leaves the local rows (still served, nothing lost) and an orphan record whose
 *   file the next sweep deletes (never served: nothing indexes it); after it, only R2 serves.
 * - Deleting a range (retention, DeleteRecords, topic deletion) drops its index rows in the
 *   commit's transaction; a file left with no index row goes to `remote_orphans` in the same
 *   transaction and is deleted from R2 after it (retried by later sweeps if that fails).
 */
import { EdgelogError } from '../../core/errors.ts'
import type { ReadBatchesOptions, StoredBatch, StreamId } from '../../core/storage.ts'

/** Schema version 3 of the adapter (appended to its migrations). */
export const REMOTE_TIER_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS remote_segments (
     id INTEGER PRIMARY KEY, stream TEXT NOT NULL, key TEXT NOT NULL UNIQUE,
     base_offset INTEGER NOT NULL, first_last INTEGER NOT NULL, last_offset INTEGER NOT NULL,
     bytes INTEGER NOT NULL, batches INTEGER NOT NULL, created_at INTEGER NOT NULL)`,
  'CREATE INDEX IF NOT EXISTS remote_segments_by_stream ON remote_segments (stream, last_offset)',
  `CREATE TABLE IF NOT EXISTS remote_index (
     stream TEXT NOT NULL, last_offset INTEGER NOT NULL, base_offset INTEGER NOT NULL, max_ts INTEGER NOT NULL,
     segment INTEGER NOT NULL, pos INTEGER NOT NULL, len INTEGER NOT NULL,
     PRIMARY KEY (stream, last_offset)) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS remote_orphans (key TEXT NOT NULL PRIMARY KEY, stream TEXT NOT NULL, since INTEGER NOT NULL) WITHOUT ROWID`,
]

export interface RemoteSegment { key: string; baseOffset: number; lastOffset: number; bytes: number; batches: number; createdAt: number }

export interface MoveHooks {
  /** Test-only fault switch: runs after the file is in R2 and before the transaction that adopts it. */
  afterPut?: (key: string) => Promise<void>
}

interface IndexRow extends Record<string, SqlStorageValue> { base_offset: number; last_offset: number; max_ts: number; segment: number; pos: number; len: number }
interface PlanRow extends Record<string, SqlStorageValue> { base_offset: number; last_offset: number; max_ts: number; len: number }

export class RemoteTier {
  /** First offset past the remote part of each stream (-1: nothing remote), as last computed. */
  readonly #end = new Map<StreamId, number>()
  /** Keys of moves in progress: their orphan records are intents, not garbage, until the move ends. */
  readonly #inflight = new Set<string>()

  constructor(
    private readonly storage: DurableObjectStorage,
    /** The store's (counted) SQL: storage.sql behind its row meter. */
    private readonly sql: SqlStorage,
    readonly bucket: R2Bucket | undefined,
    private readonly options: { prefix: string; objectBytes: number; now: () => number },
  ) {}

  get #sql(): SqlStorage { return this.sql }

  /** R2 key prefix of this store's files; a stream's files are under `${prefix}${stream}/`. */
  get prefix(): string { return this.options.prefix }

  /** First offset after the stream's remote batches; -1 when none are remote. */
  end(stream: StreamId): number {
    let end = this.#end.get(stream)
    if (end === undefined) {
      const m = this.#sql.exec<{ m: number | null }>('SELECT max(last_offset) AS m FROM remote_index WHERE stream = ?', stream).one().m
      end = m === null ? -1 : m + 1
      this.#end.set(stream, end)
    }
    return end
  }

  /**
   * The remote batches from `fromOffset` within the limits; `more` says the limits were not
   * reached before the remote part ended (the caller goes on with the local rows).
   */
  async read(stream: StreamId, fromOffset: number, options: ReadBatchesOptions): Promise<{ batches: StoredBatch[]; bytes: number; more: boolean }> {
    const { maxBytes, toOffset, maxBatches } = options
    const cursor = this.#sql.exec<IndexRow>(
      'SELECT base_offset, last_offset, max_ts, segment, pos, len FROM remote_index WHERE stream = ? AND last_offset >= ? ORDER BY last_offset LIMIT ?',
      stream, fromOffset, maxBatches === undefined ? -1 : Math.floor(maxBatches),
    )
    const rows: IndexRow[] = []
    let bytes = 0
    let more = true
    for (let step = cursor.next(); !step.done; step = cursor.next()) {
      const row = step.value
      if (toOffset !== undefined && row.base_offset >= toOffset) { more = false; break }
      if (rows.length > 0 && bytes + row.len > maxBytes) { more = false; break }
      rows.push(row)
      bytes += row.len
      if (bytes >= maxBytes) { more = false; break }
    }
    if (maxBatches !== undefined && rows.length >= maxBatches) more = false
    const batches: StoredBatch[] = []
    // One ranged GET per file touched: consecutive rows of a file are contiguous in it.
    for (let i = 0; i < rows.length;) {
      let j = i + 1
      while (j < rows.length && rows[j].segment === rows[i].segment && rows[j].pos === rows[j - 1].pos + rows[j - 1].len) j++
      const first = rows[i]
      const length = rows[j - 1].pos + rows[j - 1].len - first.pos
      const data = await this.#get(first.segment, first.pos, length)
      for (let k = i; k < j; k++) {
        const r = rows[k]
        const bytesOf = data.subarray(r.pos - first.pos, r.pos - first.pos + r.len)
        checkBatch(bytesOf, r)
        batches.push({ baseOffset: r.base_offset, lastOffset: r.last_offset, maxTimestamp: r.max_ts, bytes: bytesOf })
      }
      i = j
    }
    return { batches, bytes, more }
  }

  async #get(segment: number, offset: number, length: number): Promise<Uint8Array> {
    const key = this.#sql.exec<{ key: string }>('SELECT key FROM remote_segments WHERE id = ?', segment).one().key
    if (!this.bucket) throw new EdgelogError('STORAGE_ERROR', `Segment file ${key} is in R2 but this deployment has no REMOTE_STORAGE binding`, { retriable: false })
    let object: R2ObjectBody | null
    try {
      object = await this.bucket.get(key, { range: { offset, length } })
    } catch (e) {
      throw new EdgelogError('STORAGE_ERROR', `R2 read of ${key} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e, retriable: true })
    }
    if (!object) throw new EdgelogError('STORAGE_ERROR', `Segment file ${key} is missing from R2`, { retriable: false })
    const data = new Uint8Array(await object.arrayBuffer())
    if (data.byteLength !== length) throw new EdgelogError('STORAGE_ERROR', `R2 answered ${data.byteLength} bytes of ${key} for ${length}`, { retriable: true })
    return data
  }

  /**
   * Inside the caller's transaction: drops the stream's remote batches whose lastOffset is in
   * [from, to), and records the files left with none as orphans. Returns how many it recorded.
   */
  deleteRange(stream: StreamId, from: number, to: number): number {
    const sql = this.#sql
    if (this.end(stream) < 0) return 0
    sql.exec('DELETE FROM remote_index WHERE stream = ? AND last_offset >= ? AND last_offset < ?', stream, from, to)
    this.#end.delete(stream)
    const touched = sql.exec<{ id: number; key: string; first_last: number; last_offset: number }>(
      'SELECT id, key, first_last, last_offset FROM remote_segments WHERE stream = ? AND last_offset >= ? AND first_last < ?', stream, from, to,
    ).toArray()
    let emptied = 0
    for (const s of touched) {
      const left = sql.exec('SELECT 1 FROM remote_index WHERE stream = ? AND last_offset >= ? AND last_offset <= ? LIMIT 1', stream, s.first_last, s.last_offset).toArray()
      if (left.length > 0) continue
      sql.exec('DELETE FROM remote_segments WHERE id = ?', s.id)
      sql.exec('INSERT OR REPLACE INTO remote_orphans (key, stream, since) VALUES (?, ?, ?)', s.key, stream, this.options.now())
      emptied++
    }
    return emptied
  }

  /**
   * Moves the local batches of `stream` whose lastOffset is in [from, to) (a sealed segment)
   * from `table` to R2, one file per `objectBytes`. Returns the batches moved. A piece whose
   * local rows changed meanwhile (retention or DeleteRecords ran during the upload) is not
   * adopted: its file stays an orphan for the next sweep.
   */
  async move(stream: StreamId, table: string, from: number, to: number, hooks: MoveHooks = {}): Promise<number> {
    const bucket = this.bucket
    if (!bucket) throw new EdgelogError('INVALID_CONFIG', 'Tiered storage needs the REMOTE_STORAGE R2 binding')
    const sql = this.#sql
    let moved = 0
    for (let at = from; at < to;) {
      const plan: PlanRow[] = []
      let size = 0
      const cursor = sql.exec<PlanRow>(`SELECT base_offset, last_offset, max_ts, length(data) AS len FROM ${table} WHERE last_offset >= ? AND last_offset < ? ORDER BY last_offset`, at, to)
      for (let step = cursor.next(); !step.done; step = cursor.next()) {
        if (plan.length > 0 && size + step.value.len > this.options.objectBytes) break
        plan.push(step.value)
        size += step.value.len
      }
      if (plan.length === 0) break
      const first = plan[0]
      const last = plan[plan.length - 1]
      const file = new Uint8Array(size)
      let pos = 0
      const data = sql.exec<{ data: ArrayBuffer }>(`SELECT data FROM ${table} WHERE last_offset >= ? AND last_offset <= ? ORDER BY last_offset`, first.last_offset, last.last_offset)
      for (const row of data) {
        if (pos + row.data.byteLength > size) break
        file.set(new Uint8Array(row.data), pos)
        pos += row.data.byteLength
      }
      if (pos !== size) return moved // changed under us (cannot happen in one synchronous read; checked anyway)
      const key = `${this.options.prefix}${stream}/${pad(first.base_offset)}-${pad(last.last_offset)}-${randomSuffix()}.log`
      this.#inflight.add(key)
      try {
        this.storage.transactionSync(() => sql.exec('INSERT OR REPLACE INTO remote_orphans (key, stream, since) VALUES (?, ?, ?)', key, stream, this.options.now()))
        // On disk before the file exists: a crash after the put then always leaves a record of it.
        await this.storage.sync()
        const sha256 = await crypto.subtle.digest('SHA-256', file)
        await bucket.put(key, file, {
          sha256,
          customMetadata: { stream, baseOffset: String(first.base_offset), lastOffset: String(last.last_offset), batches: String(plan.length) },
        })
        await hooks.afterPut?.(key)
        const adopted = this.storage.transactionSync(() => {
          const check = sql.exec<{ n: number; bytes: number | null }>(
            `SELECT count(*) AS n, sum(length(data)) AS bytes FROM ${table} WHERE last_offset >= ? AND last_offset <= ?`, first.last_offset, last.last_offset,
          ).one()
          if (check.n !== plan.length || check.bytes !== size) return false
          const id = sql.exec<{ id: number }>(
            'INSERT INTO remote_segments (stream, key, base_offset, first_last, last_offset, bytes, batches, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id',
            stream, key, first.base_offset, first.last_offset, last.last_offset, size, plan.length, this.options.now(),
          ).one().id
          let p = 0
          for (const r of plan) {
            sql.exec('INSERT INTO remote_index (stream, last_offset, base_offset, max_ts, segment, pos, len) VALUES (?, ?, ?, ?, ?, ?, ?)', stream, r.last_offset, r.base_offset, r.max_ts, id, p, r.len)
            p += r.len
          }
          sql.exec(`DELETE FROM ${table} WHERE last_offset >= ? AND last_offset <= ?`, first.last_offset, last.last_offset)
          sql.exec('DELETE FROM remote_orphans WHERE key = ?', key)
          return true
        })
        this.#end.delete(stream)
        if (!adopted) return moved
        moved += plan.length
      } finally {
        this.#inflight.delete(key)
      }
      at = last.last_offset + 1
    }
    return moved
  }

  /** Deletes the R2 files of orphan records (failed moves, deleted segments); failures stay for the next sweep. */
  async sweep(): Promise<number> {
    if (!this.bucket) return 0
    const sql = this.#sql
    const orphans = sql.exec<{ key: string }>('SELECT key FROM remote_orphans ORDER BY key').toArray()
      .map((r) => r.key).filter((key) => !this.#inflight.has(key))
    if (orphans.length === 0) return 0
    // The transactions that made these orphans (a retention run dropping index rows) must be
    // on disk before their files go: else a crash could bring back rows pointing at nothing.
    await this.storage.sync()
    let deleted = 0
    for (let i = 0; i < orphans.length; i += 1000) {
      const keys = orphans.slice(i, i + 1000)
      try {
        await this.bucket.delete(keys)
      } catch {
        return deleted
      }
      this.storage.transactionSync(() => {
        for (const key of keys) {
          // A key indexed again (it cannot be: keys are unique per move) would be kept, not deleted.
          sql.exec('DELETE FROM remote_orphans WHERE key = ? AND NOT EXISTS (SELECT 1 FROM remote_segments WHERE key = ?)', key, key)
        }
      })
      deleted += keys.length
    }
    return deleted
  }

  /** The stream's remote segments and pending orphan records (status, tests). */
  describe(stream: StreamId): { segments: RemoteSegment[]; orphans: string[] } {
    const segments = this.#sql.exec<{ key: string; base_offset: number; last_offset: number; bytes: number; batches: number; created_at: number }>(
      'SELECT key, base_offset, last_offset, bytes, batches, created_at FROM remote_segments WHERE stream = ? ORDER BY last_offset', stream,
    ).toArray().map((r) => ({ key: r.key, baseOffset: r.base_offset, lastOffset: r.last_offset, bytes: r.bytes, batches: r.batches, createdAt: r.created_at }))
    const orphans = this.#sql.exec<{ key: string }>('SELECT key FROM remote_orphans WHERE stream = ? ORDER BY key', stream).toArray().map((r) => r.key)
    return { segments, orphans }
  }
}

/** The header fields a stored batch must show at its index position (R2 answered the right bytes). */
function checkBatch(bytes: Uint8Array, row: IndexRow): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const ok = bytes.byteLength >= 12 && Number(view.getBigInt64(0)) === row.base_offset && view.getInt32(8) + 12 === row.len
  if (!ok) throw new EdgelogError('CORRUPT_MESSAGE', `Remote segment bytes at offset ${row.base_offset} do not hold that batch`)
}

function pad(offset: number): string {
  return offset.toString().padStart(16, '0')
}

function randomSuffix(): string {
  const b = new Uint8Array(6)
  crypto.getRandomValues(b)
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
}
