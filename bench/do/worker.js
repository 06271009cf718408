/**
 * The Durable Object benchmark's Worker, plain JavaScript so that the Node-side typecheck
 * leaves it alone (bench/do.ts runs it with `wrangler dev -c
 * bench/do/wrangler.jsonc`): one object that repeats one kind of per-batch work `n` times in a
 * request, so that the request's own cost is spread over the batches and subtracted (the
 * `null` kind). Time inside workerd does not advance while code runs, so bench/do.ts times
 * the requests from outside. Kinds, each on the same 1,000-record batch from the body:
 *   null       nothing (the request's cost)
 *   raw        one transactionSync per batch: INSERT of the bytes as a BLOB (the limit)
 *   raw-layout the same into a table laid out as edgelog's schema-1 `batches` (WITHOUT ROWID, key
 *              (stream, last_offset), INSERT OR REPLACE); raw-layout-insert with INSERT;
 *              raw-indexed into a rowid table with a UNIQUE (stream, last_offset) index;
 *              raw-split the key row WITHOUT ROWID and the bytes in a rowid table
 *   crc        the CRC32C of the batch
 *   validate   validateBatch (header, CRC, every record parsed)
 *   commit     SqliteStorage.commit of the batch and its head and segment rows (what the
 *              log writes), with the log's two `expect` preconditions, no validation;
 *              commit-no-expect without the preconditions; commit-one-meta with one
 *              metadata row (head) instead of two
 *   append     PartitionLog.append of an untrusted batch (validation, idempotence check,
 *              offsets, segment roll, commit): the partition object's own work per batch
 * Reads (per read of about 1 MiB: nine batches of 30 stored, each kind's object filled once):
 *   raw-read   SELECT of the BLOB rows from the offset's row on, stopping past 1 MiB, and their
 *              bytes concatenated into one buffer (what a fetch answer carries): the limit
 *   read       PartitionLog.read of 1 MiB and the same concatenation (what the partition
 *              object does for a fetch)
 */
import { DurableObject } from 'cloudflare:workers'
import { crc32c } from '../../core/codec/crc32c.ts'
import { setBaseOffset, validateBatch } from '../../core/codec/record-batch.ts'
import { concatBytes } from '../../core/codec/bytes.ts'
import { TOPIC_CONFIG_DEFAULTS } from '../../core/config.ts'
import { PartitionLog } from '../../core/log/partition-log.ts'
import { SqliteStorage } from '../../adapters/durable-object/sqlite-storage.ts'

/** @typedef {{ BENCH: DurableObjectNamespace }} Env */

/** Reads: 30 stored 1,000-record batches, 1 MiB per read, from offsets 0, 9,000, 18,000 in turn. */
const READ_BATCHES = 30
const READ_BYTES = 1 << 20
/** @param {number} i */
const readOffset = (i) => (i % 3) * 9000

export class BenchObject extends DurableObject {
  /** @type {SqliteStorage} */ #storage
  /** @type {Promise<PartitionLog> | undefined} */ #log
  #next = 0
  /** @type {unknown} */ #head = undefined

  constructor(ctx, env) {
    super(ctx, env)
    this.#storage = new SqliteStorage(ctx.storage)
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS raw (k INTEGER PRIMARY KEY, data BLOB NOT NULL)')
    // edgelog's schema-1 batches layout (before one table per stream), written raw
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS raw_layout (stream TEXT NOT NULL, last_offset INTEGER NOT NULL, base_offset INTEGER NOT NULL,
      max_ts INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (stream, last_offset)) WITHOUT ROWID`)
    // other layouts: a rowid table with the key as a unique index; the key row apart from the bytes
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS raw_indexed (stream TEXT NOT NULL, last_offset INTEGER NOT NULL, base_offset INTEGER NOT NULL,
      max_ts INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE (stream, last_offset))`)
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS raw_keys (stream TEXT NOT NULL, last_offset INTEGER NOT NULL, base_offset INTEGER NOT NULL,
      max_ts INTEGER NOT NULL, blob INTEGER NOT NULL, PRIMARY KEY (stream, last_offset)) WITHOUT ROWID`)
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS raw_blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)')
  }

  /** @param {string} kind @param {number} n @param {ArrayBuffer} batch */
  async run(kind, n, batch) {
    const bytes = new Uint8Array(batch)
    const sql = this.ctx.storage.sql
    const now = Date.now()
    let sink = 0
    switch (kind) {
      case 'null':
        break
      case 'raw':
        for (let i = 0; i < n; i++) {
          const k = this.#next++
          this.ctx.storage.transactionSync(() => sql.exec('INSERT INTO raw (k, data) VALUES (?, ?)', k, bytes.slice().buffer))
        }
        break
      case 'raw-layout':
        for (let i = 0; i < n; i++) {
          const k = this.#next++
          this.ctx.storage.transactionSync(() => sql.exec('INSERT OR REPLACE INTO raw_layout (stream, last_offset, base_offset, max_ts, data) VALUES (?, ?, ?, ?, ?)', 'raw/0', k, k, now, bytes.slice().buffer))
        }
        break
      case 'raw-layout-insert':
        for (let i = 0; i < n; i++) {
          const k = this.#next++
          this.ctx.storage.transactionSync(() => sql.exec('INSERT INTO raw_layout (stream, last_offset, base_offset, max_ts, data) VALUES (?, ?, ?, ?, ?)', 'raw/1', k, k, now, bytes.slice().buffer))
        }
        break
      case 'raw-indexed':
        for (let i = 0; i < n; i++) {
          const k = this.#next++
          this.ctx.storage.transactionSync(() => sql.exec('INSERT OR REPLACE INTO raw_indexed (stream, last_offset, base_offset, max_ts, data) VALUES (?, ?, ?, ?, ?)', 'raw/0', k, k, now, bytes.slice().buffer))
        }
        break
      case 'raw-split':
        for (let i = 0; i < n; i++) {
          const k = this.#next++
          this.ctx.storage.transactionSync(() => {
            sql.exec('INSERT INTO raw_blobs (id, data) VALUES (?, ?)', k, bytes.slice().buffer)
            sql.exec('INSERT OR REPLACE INTO raw_keys (stream, last_offset, base_offset, max_ts, blob) VALUES (?, ?, ?, ?, ?)', 'raw/0', k, k, now, k)
          })
        }
        break
      case 'crc':
        for (let i = 0; i < n; i++) sink ^= crc32c(bytes, 21)
        break
      case 'validate':
        for (let i = 0; i < n; i++) await validateBatch(bytes)
        break
      case 'commit':
      case 'commit-no-expect':
      case 'commit-one-meta': {
        // What the log commits per append: the batch, its head and segment rows, with its two
        // preconditions (the head as last written, the topic record); then without the
        // preconditions; then with one metadata row instead of two.
        const stream = `${kind}/0`
        const records = new DataView(batch).getInt32(57) // record count
        for (let i = 0; i < n; i++) {
          const base = this.#next
          this.#next += records
          const copy = bytes.slice()
          setBaseOffset(copy, base)
          const head = { logStartOffset: 0, nextOffset: base + records, activeSegment: 0, bytes: base }
          const meta = [{ key: `head/${stream}`, value: head }]
          if (kind !== 'commit-one-meta') meta.push({ key: `seg/${stream}/0000000000000000`, value: { baseOffset: 0, endOffset: base + records, bytes: base, batches: i + 1, createdAt: 0, maxTimestamp: now } })
          await this.#storage.commit({
            expect: kind === 'commit' ? [{ key: `head/${stream}`, value: this.#head }, { key: 'topic/bench', value: undefined }] : undefined,
            batches: [{ stream, batch: { baseOffset: base, lastOffset: base + records - 1, maxTimestamp: now, bytes: copy } }],
            meta,
          })
          this.#head = head
        }
        break
      }
      case 'append': {
        this.#log ??= PartitionLog.open({ storage: this.#storage, stream: 'append/0', config: () => TOPIC_CONFIG_DEFAULTS })
        const log = await this.#log
        for (let i = 0; i < n; i++) await log.append(bytes.slice())
        break
      }
      case 'raw-read': {
        if (sql.exec('SELECT count(*) AS n FROM raw').one().n === 0) {
          for (let k = 0; k < READ_BATCHES; k++) this.ctx.storage.transactionSync(() => sql.exec('INSERT INTO raw (k, data) VALUES (?, ?)', k * 1000, bytes.slice().buffer))
        }
        for (let i = 0; i < n; i++) {
          const parts = []
          let size = 0
          for (const row of sql.exec('SELECT k, data FROM raw WHERE k >= ? ORDER BY k', readOffset(i))) {
            const data = new Uint8Array(/** @type {ArrayBuffer} */ (row.data))
            if (parts.length > 0 && size + data.byteLength > READ_BYTES) break
            parts.push(data)
            size += data.byteLength
          }
          sink ^= concatBytes(parts).byteLength
        }
        break
      }
      case 'read': {
        this.#log ??= PartitionLog.open({ storage: this.#storage, stream: 'read/0', config: () => TOPIC_CONFIG_DEFAULTS })
        const log = await this.#log
        while (log.highWatermark < READ_BATCHES * 1000) await log.append(bytes.slice())
        for (let i = 0; i < n; i++) {
          const read = await log.read(readOffset(i), READ_BYTES)
          sink ^= concatBytes(read.batches.map((b) => b.bytes)).byteLength
        }
        break
      }
      default:
        throw new Error(`unknown kind ${kind}`)
    }
    return { n: n + (sink & 0) }
  }

  /** Rows in each table, to count what the appends wrote. */
  stats() {
    const sql = this.ctx.storage.sql
    const tables = sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'").toArray()
    /** @type {Record<string, number>} */
    const out = {}
    for (const { name } of tables) {
      const n = sql.exec(`SELECT count(*) AS n FROM "${name}"`).one().n
      if (n > 0) out[name] = n
    }
    return out
  }
}

export default {
  /** @param {Request} request @param {Env} env */
  async fetch(request, env) {
    const url = new URL(request.url)
    const stub = env.BENCH.get(env.BENCH.idFromName(url.searchParams.get('object') ?? 'bench'))
    if (url.pathname === '/v1/health') return new Response('ok') // what startWranglerDev waits for
    if (url.pathname === '/stats') return Response.json(await stub.stats())
    const kind = url.pathname.slice(1)
    const n = Number(url.searchParams.get('n') ?? 1)
    return Response.json(await stub.run(kind, n, await request.arrayBuffer()))
  },
}
