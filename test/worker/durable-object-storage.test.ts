/**
 * The Durable Object SQLite adapter, inside workerd, on the storage of real Durable Objects.
 *
 * A Durable Object's storage can only be used from inside that object's I/O context: a
 * `state.storage` captured in `runInDurableObject` and used after it returned fails with
 * "Cannot perform I/O on behalf of a different Durable Object". So the adapter handed to the
 * tests is a forwarder: each call runs inside the object through `runInDurableObject`, on the
 * `SqliteStorage` the object built in its constructor (same isolate: no copies, errors keep
 * their class).
 */
import { abortAllDurableObjects, env, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { EdgelogError } from '../../core/errors.ts'
import type { StorageAdapter, StorageWrite, StoredBatch } from '../../core/storage.ts'
import { DO_MAX_VALUE_BYTES, SCHEMA_VERSION, SqliteStorage } from '../../adapters/durable-object/index.ts'
import { translateStorageError } from '../../adapters/durable-object/sqlite-storage.ts'
import type { PartitionObject } from '../../worker/index.ts'
import { describeStorageConformance } from '../conformance/storage-suite.ts'

type Stub = DurableObjectStub<PartitionObject>

/** One Durable Object, reached by id: after an eviction its old stub is broken, so a new one is made. */
class ObjectRef {
  readonly id = env.PARTITION.newUniqueId()
  stub: Stub = env.PARTITION.get(this.id)

  run<R>(fn: (obj: PartitionObject, state: DurableObjectState) => R | Promise<R>): Promise<R> {
    return runInDurableObject(this.stub, fn)
  }

  /** Evicts the object (as the runtime does when idle or after a crash): the next call builds a new instance. */
  async evict(): Promise<void> {
    await abortAllDurableObjects()
    this.stub = env.PARTITION.get(this.id)
  }
}

function freshObject(): ObjectRef {
  return new ObjectRef()
}

/**
 * A StorageAdapter whose every call runs inside the Durable Object behind `ref`, on the
 * adapter `pick` chooses there (by default the one the object built in its constructor).
 */
async function storageIn(
  ref: ObjectRef,
  pick: (obj: PartitionObject, state: DurableObjectState) => SqliteStorage = (obj) => obj.storage,
): Promise<StorageAdapter> {
  const capabilities = await ref.run((obj, state) => ({ ...pick(obj, state).capabilities }))
  // Each call is its own `runInDurableObject` round trip, and concurrent round trips may reach
  // the object out of order under load; inside a real object calls happen in program order.
  // So calls enter the object one after another, in the order they were issued.
  let tail: Promise<unknown> = Promise.resolve()
  const call = <R>(fn: (s: SqliteStorage) => Promise<R>): Promise<R> => {
    const result = tail.then(() => ref.run((obj, state) => fn(pick(obj, state))))
    tail = result.catch(() => undefined)
    return result
  }
  return {
    capabilities,
    commit: (write) => call((s) => s.commit(write)),
    readBatches: (stream, from, options) => call((s) => s.readBatches(stream, from, options)),
    getMeta: <T>(key: string) => call((s) => s.getMeta<T>(key)),
    listMeta: <T>(prefix: string) => call((s) => s.listMeta<T>(prefix)),
    close: () => call((s) => s.close()),
  }
}

/** A second adapter instance per object incarnation, over the same `ctx.storage`. */
const secondAdapters = new WeakMap<PartitionObject, SqliteStorage>()
function secondAdapter(obj: PartitionObject, state: DurableObjectState): SqliteStorage {
  let s = secondAdapters.get(obj)
  if (!s) secondAdapters.set(obj, (s = new SqliteStorage(state.storage)))
  return s
}

/**
 * The shared suite, on a fresh Durable Object per test. `reopen` evicts the object (its next
 * incarnation migrates the existing schema and reads what is on disk) and returns a second
 * adapter instance over that object's storage, beside the one its constructor built.
 */
describeStorageConformance('Durable Object SQLite (workerd)', async () => {
  const ref = freshObject()
  return {
    storage: await storageIn(ref),
    reopen: async () => {
      await ref.evict()
      return storageIn(ref, secondAdapter)
    },
    teardown: async () => {},
  }
})

function batch(baseOffset: number, count: number, size = 16, fill = baseOffset & 0xff): StoredBatch {
  const bytes = new Uint8Array(size).fill(fill)
  return { baseOffset, lastOffset: baseOffset + count - 1, maxTimestamp: 1_700_000_000_000 + baseOffset, bytes }
}

const offsetsOf = (batches: StoredBatch[]) => batches.map((b) => [b.baseOffset, b.lastOffset])

async function expectCode(p: Promise<unknown>, code: string): Promise<EdgelogError> {
  const e = await p.then(
    () => {
      throw new Error(`expected ${code}, but it succeeded`)
    },
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(EdgelogError)
  expect((e as EdgelogError).code).toBe(code)
  return e as EdgelogError
}

describe('schema', () => {
  it('creates streams, meta and the schema version on construction', async () => {
    const stub = freshObject()
    const tables = await stub.run((_obj, state) => ({
      tables: state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .toArray()
        .map((r) => r.name),
      version: state.storage.sql.exec<{ version: number }>('SELECT version FROM edgelog_schema').one().version,
    }))
    expect(tables.tables).toEqual(expect.arrayContaining(['edgelog_schema', 'meta', 'streams']))
    expect(tables.tables).not.toContain('batches')
    expect(tables.version).toBe(SCHEMA_VERSION)
  })

  it('constructs again over an existing schema without touching the data', async () => {
    const stub = freshObject()
    const s = await storageIn(stub)
    await s.commit({ batches: [{ stream: 't/0', batch: batch(0, 3) }], meta: [{ key: 'k', value: 1 }] })
    const again = await stub.run(async (_obj, state) => {
      const second = new SqliteStorage(state.storage)
      return { meta: await second.getMeta('k'), batches: (await second.readBatches('t/0', 0, { maxBytes: 1e6 })).length }
    })
    expect(again).toEqual({ meta: 1, batches: 1 })
  })

  it('migrates schema 1 (one batches table) to one table per stream, keeping every batch and the metadata', async () => {
    const stub = freshObject()
    const read = await stub.run(async (_obj, state) => {
      const sql = state.storage.sql
      // schema 1 as the first release wrote it (in place of what the object's own adapter made)
      for (const t of ['edgelog_schema', 'meta', 'streams']) sql.exec(`DROP TABLE IF EXISTS ${t}`)
      sql.exec('CREATE TABLE edgelog_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)')
      sql.exec('INSERT INTO edgelog_schema (id, version) VALUES (1, 1)')
      sql.exec('CREATE TABLE batches (stream TEXT NOT NULL, last_offset INTEGER NOT NULL, base_offset INTEGER NOT NULL, max_ts INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (stream, last_offset)) WITHOUT ROWID')
      sql.exec('CREATE TABLE meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID')
      for (const [stream, base, last] of [['t/0', 0, 2], ['t/0', 3, 9], ['t/1', 0, 4]] as const) {
        sql.exec('INSERT INTO batches VALUES (?, ?, ?, ?, ?)', stream, last, base, 7, new Uint8Array([base, last, 1, 2, 3, 4, 5, 6]).buffer)
      }
      sql.exec('INSERT INTO meta VALUES (?, ?)', 'head/t/0', '{"nextOffset":10}')
      const s = new SqliteStorage(state.storage)
      const version = sql.exec<{ version: number }>('SELECT version FROM edgelog_schema').one().version
      const t0 = await s.readBatches('t/0', 4, { maxBytes: 1e6 })
      const t1 = await s.readBatches('t/1', 0, { maxBytes: 1e6 })
      await s.commit({ batches: [{ stream: 't/0', batch: { baseOffset: 10, lastOffset: 10, maxTimestamp: 8, bytes: new Uint8Array([10, 10, 0, 0, 0, 0, 0, 0]) } }] })
      const tables = sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").toArray().map((r) => r.name)
      return {
        version, tables, head: await s.getMeta('head/t/0'),
        t0: t0.map((b) => [b.baseOffset, b.lastOffset, b.maxTimestamp, Array.from(b.bytes.subarray(0, 2))]),
        t1: t1.map((b) => [b.baseOffset, b.lastOffset]),
        all: (await s.readBatches('t/0', 0, { maxBytes: 1e6 })).map((b) => b.lastOffset),
      }
    })
    expect(read.version).toBe(SCHEMA_VERSION)
    expect(read.tables).not.toContain('batches')
    expect(read.head).toEqual({ nextOffset: 10 })
    expect(read.t0).toEqual([[3, 9, 7, [3, 9]]])
    expect(read.t1).toEqual([[0, 4]])
    expect(read.all).toEqual([2, 9, 10])
  })

  it('refuses a schema newer than the code', async () => {
    const stub = freshObject()
    const e = await stub.run((_obj, state) => {
      state.storage.sql.exec('UPDATE edgelog_schema SET version = ?', SCHEMA_VERSION + 1)
      try {
        new SqliteStorage(state.storage)
        return undefined
      } catch (err) {
        return err
      }
    })
    expect(e).toBeInstanceOf(EdgelogError)
    expect((e as EdgelogError).code).toBe('STORAGE_ERROR')
  })

  it('advertises a non-shared store with the Durable Object row limit', async () => {
    const s = await storageIn(freshObject())
    expect(s.capabilities.shared).toBe(false)
    expect(s.capabilities.maxValueBytes).toBe(2_000_000)
  })
})

describe('batches', () => {
  it('reads from the batch holding the offset, in order, with byte-exact Uint8Arrays', async () => {
    const s = await storageIn(freshObject())
    const bs = [batch(0, 5), batch(5, 5), batch(10, 1), batch(11, 4)]
    // Inserted out of order; a Uint8Array view into a bigger buffer is stored as just its bytes.
    const backing = new Uint8Array(64).fill(9)
    const view = backing.subarray(8, 24)
    view.set([1, 2, 3])
    const viewed = { ...bs[3], bytes: view }
    await s.commit({ batches: [viewed, bs[1], bs[0], bs[2]].map((b) => ({ stream: 't/0', batch: b })) })
    const all = await s.readBatches('t/0', 0, { maxBytes: 1e6 })
    expect(offsetsOf(all)).toEqual([[0, 4], [5, 9], [10, 10], [11, 14]])
    for (const b of all) expect(b.bytes).toBeInstanceOf(Uint8Array)
    expect(Array.from(all[3].bytes)).toEqual(Array.from(view))
    expect(all[3].bytes.byteLength).toBe(16)
    expect(all[0].maxTimestamp).toBe(1_700_000_000_000)
    expect(offsetsOf(await s.readBatches('t/0', 7, { maxBytes: 1e6 }))).toEqual([[5, 9], [10, 10], [11, 14]])
    expect(offsetsOf(await s.readBatches('t/0', 10, { maxBytes: 1e6 }))).toEqual([[10, 10], [11, 14]])
    expect(await s.readBatches('t/0', 15, { maxBytes: 1e6 })).toEqual([])
    expect(await s.readBatches('t/1', 0, { maxBytes: 1e6 })).toEqual([])
  })

  it('honours toOffset, maxBatches and maxBytes (the first batch always)', async () => {
    const s = await storageIn(freshObject())
    await s.commit({ batches: [0, 10, 20, 30].map((o) => ({ stream: 's', batch: batch(o, 10, 100) })) })
    expect(offsetsOf(await s.readBatches('s', 0, { maxBytes: 1e6, toOffset: 20 }))).toEqual([[0, 9], [10, 19]])
    expect(offsetsOf(await s.readBatches('s', 0, { maxBytes: 1e6, toOffset: 21 }))).toEqual([[0, 9], [10, 19], [20, 29]])
    expect(await s.readBatches('s', 25, { maxBytes: 1e6, toOffset: 20 })).toEqual([])
    expect(offsetsOf(await s.readBatches('s', 0, { maxBytes: 1e6, maxBatches: 3 }))).toEqual([[0, 9], [10, 19], [20, 29]])
    expect(offsetsOf(await s.readBatches('s', 0, { maxBytes: 1 }))).toEqual([[0, 9]])
    expect(offsetsOf(await s.readBatches('s', 0, { maxBytes: 250 }))).toEqual([[0, 9], [10, 19]])
    expect(offsetsOf(await s.readBatches('s', 0, { maxBytes: 300 }))).toEqual([[0, 9], [10, 19], [20, 29]])
  })

  it('keeps offsets above 2^32 and up to 2^53 - 1 exact', async () => {
    const s = await storageIn(freshObject())
    const high = 2 ** 32 + 7
    const top = Number.MAX_SAFE_INTEGER - 9
    await s.commit({
      batches: [
        { stream: 'big', batch: batch(high, 3) },
        { stream: 'big', batch: batch(high + 3, 2) },
        { stream: 'big', batch: batch(top, 10) },
      ],
    })
    expect(offsetsOf(await s.readBatches('big', high + 1, { maxBytes: 1e6 }))).toEqual([
      [high, high + 2],
      [high + 3, high + 4],
      [top, Number.MAX_SAFE_INTEGER],
    ])
    expect(offsetsOf(await s.readBatches('big', top + 5, { maxBytes: 1e6 }))).toEqual([[top, Number.MAX_SAFE_INTEGER]])
    await s.commit({ deleteRanges: [{ stream: 'big', fromOffset: 0, toOffset: high + 3 }] })
    expect(offsetsOf(await s.readBatches('big', 0, { maxBytes: 1e6 }))).toEqual([
      [high + 3, high + 4],
      [top, Number.MAX_SAFE_INTEGER],
    ])
    await s.commit({ deleteRanges: [{ stream: 'big', fromOffset: 0, toOffset: Infinity }] })
    expect(await s.readBatches('big', 0, { maxBytes: 1e6 })).toEqual([])
  })

  it('runs range deletes before puts, so a rewrite replaces a range', async () => {
    const s = await storageIn(freshObject())
    await s.commit({ batches: [0, 5, 10].map((o) => ({ stream: 'c', batch: batch(o, 5) })) })
    // Compaction: offsets 0..9 rewritten as one batch keeping 3 and 9 (gaps are allowed).
    const compacted: StoredBatch = { baseOffset: 3, lastOffset: 9, maxTimestamp: 1, bytes: new Uint8Array([7]) }
    await s.commit({ deleteRanges: [{ stream: 'c', fromOffset: 0, toOffset: 10 }], batches: [{ stream: 'c', batch: compacted }] })
    const read = await s.readBatches('c', 0, { maxBytes: 1e6 })
    expect(offsetsOf(read)).toEqual([[3, 9], [10, 14]])
    expect(Array.from(read[0].bytes)).toEqual([7])
  })

  it('keeps streams apart, including streams whose names prefix each other', async () => {
    const s = await storageIn(freshObject())
    await s.commit({ batches: [{ stream: 'a/1', batch: batch(0, 1) }, { stream: 'a/10', batch: batch(0, 2) }] })
    await s.commit({ deleteRanges: [{ stream: 'a/1', fromOffset: 0, toOffset: 100 }] })
    expect(await s.readBatches('a/1', 0, { maxBytes: 1e6 })).toEqual([])
    expect(offsetsOf(await s.readBatches('a/10', 0, { maxBytes: 1e6 }))).toEqual([[0, 1]])
  })
})

describe('metadata', () => {
  it('puts, gets, deletes and lists by prefix in key order', async () => {
    const s = await storageIn(freshObject())
    await s.commit({
      meta: [
        { key: 'topic/b', value: { n: 2 } },
        { key: 'topic/a', value: { n: 1, nested: [1, 'x', null] } },
        { key: 'topicx', value: 0 },
        { key: 'head/t/0', value: { next: 2 ** 40 } },
        { key: 'top', value: 'no' },
      ],
    })
    expect(await s.getMeta('topic/a')).toEqual({ n: 1, nested: [1, 'x', null] })
    expect(await s.getMeta('head/t/0')).toEqual({ next: 2 ** 40 })
    expect(await s.getMeta('nope')).toBeUndefined()
    expect((await s.listMeta('topic/')).map((e) => e.key)).toEqual(['topic/a', 'topic/b'])
    expect((await s.listMeta('topic')).map((e) => e.key)).toEqual(['topic/a', 'topic/b', 'topicx'])
    expect((await s.listMeta('')).map((e) => e.key)).toEqual(['head/t/0', 'top', 'topic/a', 'topic/b', 'topicx'])
    await s.commit({ meta: [{ key: 'topic/a', value: undefined }, { key: 'topic/b', value: { n: 3 } }] })
    expect(await s.listMeta('topic/')).toEqual([{ key: 'topic/b', value: { n: 3 } }])
    await s.commit({ deleteMetaPrefixes: ['top'] })
    expect((await s.listMeta('')).map((e) => e.key)).toEqual(['head/t/0'])
  })

  it('lists and deletes keys whose next character is above U+FFFF, in JavaScript key order', async () => {
    const s = await storageIn(freshObject())
    const keys = ['group/😀', 'group/\uffff', 'group/a', 'group/\u00e9', 'groupz']
    await s.commit({ meta: keys.map((key, i) => ({ key, value: i })) })
    const listed = (await s.listMeta('group/')).map((e) => e.key)
    expect(listed).toEqual(['group/a', 'group/\u00e9', 'group/😀', 'group/\uffff'])
    expect(listed).toEqual([...listed].sort())
    await s.commit({ deleteMetaPrefixes: ['group/'] })
    expect((await s.listMeta('')).map((e) => e.key)).toEqual(['groupz'])
  })
})

describe('atomic commit', () => {
  async function seeded(): Promise<StorageAdapter> {
    const s = await storageIn(freshObject())
    await s.commit({ batches: [{ stream: 'p', batch: batch(0, 5) }], meta: [{ key: 'head/p', value: { next: 5 } }] })
    return s
  }

  async function expectUntouched(s: StorageAdapter): Promise<void> {
    expect(offsetsOf(await s.readBatches('p', 0, { maxBytes: 1e6 }))).toEqual([[0, 4]])
    expect(await s.listMeta('')).toEqual([{ key: 'head/p', value: { next: 5 } }])
  }

  it('rejects a batch over 2 MB with MESSAGE_TOO_LARGE and stores nothing of a multi-batch write', async () => {
    const s = await seeded()
    await expectCode(
      s.commit({
        deleteRanges: [{ stream: 'p', fromOffset: 0, toOffset: 5 }],
        batches: [
          { stream: 'p', batch: batch(5, 1) },
          { stream: 'p', batch: { ...batch(6, 1), bytes: new Uint8Array(DO_MAX_VALUE_BYTES + 1) } },
        ],
        meta: [{ key: 'head/p', value: { next: 7 } }, { key: 'other', value: 1 }],
      }),
      'MESSAGE_TOO_LARGE',
    )
    await expectUntouched(s)
  })

  it('stores a batch of exactly the limit', async () => {
    const s = await storageIn(freshObject())
    await s.commit({ batches: [{ stream: 'p', batch: { ...batch(0, 1), bytes: new Uint8Array(DO_MAX_VALUE_BYTES).fill(3) } }] })
    const [b] = await s.readBatches('p', 0, { maxBytes: 1 })
    expect(b.bytes.byteLength).toBe(DO_MAX_VALUE_BYTES)
    expect(b.bytes[DO_MAX_VALUE_BYTES - 1]).toBe(3)
  })

  it('rolls back range deletes, batch puts and metadata already applied when a later part throws', async () => {
    const s = await seeded()
    const write: StorageWrite = {
      deleteRanges: [{ stream: 'p', fromOffset: 0, toOffset: 5 }],
      batches: [{ stream: 'p', batch: batch(5, 2) }, { stream: 'q', batch: batch(0, 1) }],
      deleteMetaPrefixes: ['head/'],
      // The first two are written before the third fails to encode inside the transaction.
      meta: [{ key: 'head/p', value: { next: 7 } }, { key: 'a', value: 1 }, { key: 'b', value: { n: 10n } }],
    }
    await expectCode(s.commit(write), 'INVALID_REQUEST')
    await expectUntouched(s)
    expect(await s.readBatches('q', 0, { maxBytes: 1e6 })).toEqual([])
  })

  it('rolls back when SQLite itself fails mid-commit, and reports STORAGE_ERROR', async () => {
    const stub = freshObject()
    const s = await storageIn(stub)
    await s.commit({ meta: [{ key: 'k', value: 1 }] })
    // Sabotage the stream registry so that stream q's first insert fails after the meta
    // delete ran and stream p's table was created in the same commit.
    await stub.run((_obj, state) => {
      state.storage.sql.exec('CREATE TRIGGER no_q BEFORE INSERT ON streams WHEN NEW.stream = \'q\' BEGIN SELECT RAISE(ABORT, \'boom\'); END')
    })
    await expectCode(
      s.commit({ deleteMetaPrefixes: [''], batches: [{ stream: 'p', batch: batch(0, 1) }, { stream: 'q', batch: batch(0, 1) }] }),
      'STORAGE_ERROR',
    )
    expect(await s.getMeta('k')).toBe(1)
    expect(await s.readBatches('p', 0, { maxBytes: 1e6 })).toEqual([])
    // the rolled-back table of p is not remembered: p can be written afterwards
    await s.commit({ batches: [{ stream: 'p', batch: batch(0, 1) }] })
    expect(await s.readBatches('p', 0, { maxBytes: 1e6 })).toHaveLength(1)
  })

  it('rejects bad offsets before touching storage', async () => {
    const s = await seeded()
    await expectCode(s.commit({ batches: [{ stream: 'p', batch: batch(NaN, 1) }] }), 'INVALID_REQUEST')
    await expectCode(s.commit({ batches: [{ stream: 'p', batch: { ...batch(9, 1), lastOffset: 3 } }] }), 'CORRUPT_MESSAGE')
    await expectUntouched(s)
  })

  it('commits with strict durability', async () => {
    const s = await storageIn(freshObject())
    await s.commit({ batches: [{ stream: 'p', batch: batch(0, 1) }], durability: 'strict' })
    expect(await s.readBatches('p', 0, { maxBytes: 1 })).toHaveLength(1)
  })
})

describe('errors and lifecycle', () => {
  it('translates SQLite failures into EdgelogError', async () => {
    const stub = freshObject()
    const s = await storageIn(stub)
    await stub.run((_obj, state) => void state.storage.sql.exec('DROP TABLE streams'))
    const e = await expectCode(s.readBatches('p', 0, { maxBytes: 1 }), 'STORAGE_ERROR')
    expect(e.retriable).toBe(true)
    expect(translateStorageError(new Error('database or disk is full: SQLITE_FULL')).code).toBe('STORAGE_QUOTA_EXCEEDED')
    expect(translateStorageError(new Error('string or blob too big: SQLITE_TOOBIG')).code).toBe('MESSAGE_TOO_LARGE')
  })

  it('refuses calls after close', async () => {
    const s = await storageIn(freshObject())
    await s.close()
    await expectCode(s.getMeta('k'), 'CLOSED')
  })
})

describe('durability across eviction', () => {
  it('keeps batches and metadata when the object is evicted and built again', async () => {
    const stub = freshObject()
    const s = await storageIn(stub)
    const first = await stub.run((obj) => obj)
    await s.commit({
      batches: [{ stream: 't/0', batch: batch(2 ** 33, 4, 40) }, { stream: 't/0', batch: batch(2 ** 33 + 4, 1, 40) }],
      meta: [{ key: 'head/t/0', value: { next: 2 ** 33 + 5 } }],
    })
    // A read that stops early leaves its cursor unfinished: later writes must still commit.
    expect(await s.readBatches('t/0', 0, { maxBytes: 1 })).toHaveLength(1)
    await s.commit({ meta: [{ key: 'after-read', value: true }] })
    await stub.evict()
    const second = await stub.run((obj) => obj)
    expect(second).not.toBe(first)
    const read = await s.readBatches('t/0', 0, { maxBytes: 1e6 })
    expect(offsetsOf(read)).toEqual([[2 ** 33, 2 ** 33 + 3], [2 ** 33 + 4, 2 ** 33 + 4]])
    expect(read[0].bytes).toEqual(new Uint8Array(40).fill(batch(2 ** 33, 4).bytes[0]))
    expect(await s.getMeta('head/t/0')).toEqual({ next: 2 ** 33 + 5 })
    expect(await s.getMeta('after-read')).toBe(true)
  })
})
