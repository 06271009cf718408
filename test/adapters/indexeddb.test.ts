// The IndexedDB globals (IDBKeyRange, IDBRequest, …) that idb and the adapter expect; each
// test still gets a fresh factory of its own.
import 'fake-indexeddb/auto'
import { IDBFactory, IDBObjectStore as FakeObjectStore, forceCloseDatabase } from 'fake-indexeddb'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { toEdgelogError } from '../../adapters/indexeddb/errors.ts'
import { DB_VERSION, MIGRATIONS, openDatabase, type Migration } from '../../adapters/indexeddb/schema.ts'
import { IndexedDBStorage } from '../../adapters/indexeddb/storage.ts'
import type { StorageChange } from '../../core/storage.ts'
import { describeStorageConformance, makeBatch } from '../conformance/storage-suite.ts'

let dbCount = 0
const uniqueName = () => `edgelog-test-${Date.now().toString(36)}-${++dbCount}`

describeStorageConformance('IndexedDBStorage (fake-indexeddb)', async () => {
  const factory = new IDBFactory()
  const name = uniqueName()
  const storage = await IndexedDBStorage.open(name, { indexedDB: factory })
  return {
    storage,
    reopen: () => IndexedDBStorage.open(name, { indexedDB: factory }),
    teardown: () => storage.close(),
  }
})

const opened: IndexedDBStorage[] = []
async function open(name: string, factory: IDBFactory): Promise<IndexedDBStorage> {
  const s = await IndexedDBStorage.open(name, { indexedDB: factory })
  opened.push(s)
  return s
}
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close()
  vi.restoreAllMocks()
})

function requestResult<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
}

describe('IndexedDBStorage: capabilities', () => {
  it('is shared, prefers batches under 64 KiB, has lock and watch', async () => {
    const s = await open(uniqueName(), new IDBFactory())
    expect(s.capabilities).toEqual({ shared: true, preferredBatchBytes: 60 * 1024 })
    expect(typeof s.lock).toBe('function')
    expect(typeof s.watch).toBe('function')
  })
})

describe('IndexedDBStorage: errors are translated at the boundary', () => {
  it('maps DOMException names to EdgelogError codes', () => {
    const cases = [
      ['QuotaExceededError', 'STORAGE_QUOTA_EXCEEDED', false],
      ['DataCloneError', 'INVALID_REQUEST', false],
      ['VersionError', 'STORAGE_ERROR', false],
      ['UnknownError', 'STORAGE_ERROR', true],
      ['AbortError', 'STORAGE_ERROR', true],
      ['InvalidStateError', 'STORAGE_ERROR', true],
    ] as const
    for (const [name, code, retriable] of cases) {
      const cause = new DOMException('boom', name)
      const e = toEdgelogError(cause, 'testing')
      expect(e, name).toMatchObject({ name: 'EdgelogError', code, retriable })
      expect(e.cause).toBe(cause)
    }
  })

  it('a transaction aborted for quota rejects STORAGE_QUOTA_EXCEEDED and writes nothing', async () => {
    const s = await open(uniqueName(), new IDBFactory())
    await s.commit({ batches: [{ stream: 't/0', batch: makeBatch(0, 9) }], meta: [{ key: 'head/t/0', value: { next: 10 } }] })

    // The browser aborts a transaction that runs out of space with a QuotaExceededError,
    // after its requests were issued; simulate exactly that on the first put.
    const put = FakeObjectStore.prototype.put
    vi.spyOn(FakeObjectStore.prototype, 'put').mockImplementationOnce(function (this: any, ...args: any[]) {
      const request = put.apply(this, args as any)
      const tx = this.transaction
      queueMicrotask(() => tx._abort('QuotaExceededError'))
      return request
    })
    const failed = s.commit({
      deleteRanges: [{ stream: 't/0', fromOffset: 0, toOffset: 10 }],
      batches: [{ stream: 't/0', batch: makeBatch(10, 19) }, { stream: 't/1', batch: makeBatch(0, 0) }],
      meta: [{ key: 'head/t/0', value: { next: 20 } }],
      deleteMetaPrefixes: ['head/'],
    })
    await expect(failed).rejects.toMatchObject({ name: 'EdgelogError', code: 'STORAGE_QUOTA_EXCEEDED', retriable: false })

    expect((await s.readBatches('t/0', 0, { maxBytes: 1e9 })).map((b) => b.lastOffset)).toEqual([9])
    expect(await s.readBatches('t/1', 0, { maxBytes: 1e9 })).toEqual([])
    expect(await s.listMeta('')).toEqual([{ key: 'head/t/0', value: { next: 10 } }])
    // and the next commit goes through
    await s.commit({ batches: [{ stream: 't/0', batch: makeBatch(10, 19) }] })
    expect((await s.readBatches('t/0', 0, { maxBytes: 1e9 })).map((b) => b.lastOffset)).toEqual([9, 19])
  })

  it('a value that cannot be cloned aborts the whole transaction with INVALID_REQUEST', async () => {
    const s = await open(uniqueName(), new IDBFactory())
    await expect(
      s.commit({
        batches: [{ stream: 't/0', batch: makeBatch(0, 0) }],
        meta: [{ key: 'a', value: 1 }, { key: 'fn', value: { f: () => 1 } }],
      }),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    expect(await s.readBatches('t/0', 0, { maxBytes: 1e9 })).toEqual([])
    expect(await s.listMeta('')).toEqual([])
  })

  it('every call after close fails with CLOSED', async () => {
    const s = await IndexedDBStorage.open(uniqueName(), { indexedDB: new IDBFactory() })
    await s.close()
    await expect(s.commit({ meta: [{ key: 'a', value: 1 }] })).rejects.toMatchObject({ code: 'CLOSED' })
    await expect(s.readBatches('t/0', 0, { maxBytes: 1 })).rejects.toMatchObject({ code: 'CLOSED' })
    await expect(s.getMeta('a')).rejects.toMatchObject({ code: 'CLOSED' })
    await expect(s.listMeta('')).rejects.toMatchObject({ code: 'CLOSED' })
    await expect(s.lock('x', async () => 1)).rejects.toMatchObject({ code: 'CLOSED' })
    await s.close() // twice is fine
  })
})

describe('IndexedDBStorage: schema versions', () => {
  it('a new database gets the current version and both stores', async () => {
    const factory = new IDBFactory()
    const name = uniqueName()
    await open(name, factory)
    const dbs = await factory.databases()
    expect(dbs).toContainEqual({ name, version: DB_VERSION })
  })

  it('reads data written in the version-1 layout by hand (the layout is a contract)', async () => {
    const factory = new IDBFactory()
    const name = uniqueName()
    const request = factory.open(name, 1)
    request.onupgradeneeded = () => {
      request.result.createObjectStore('batches')
      request.result.createObjectStore('meta')
    }
    const raw = await requestResult(request)
    const tx = raw.transaction(['batches', 'meta'], 'readwrite')
    const bytes = makeBatch(2 ** 33, 2 ** 33 + 9, 40).bytes
    tx.objectStore('batches').put({ baseOffset: 2 ** 33, maxTimestamp: 5, bytes }, ['t/0', 2 ** 33 + 9])
    tx.objectStore('meta').put({ next: 2 ** 33 + 10 }, 'head/t/0')
    await new Promise((resolve) => (tx.oncomplete = resolve))
    raw.close()

    const s = await open(name, factory)
    const [batch] = await s.readBatches('t/0', 2 ** 33 + 3, { maxBytes: 1 })
    expect(batch).toMatchObject({ baseOffset: 2 ** 33, lastOffset: 2 ** 33 + 9, maxTimestamp: 5 })
    expect(Array.from(batch!.bytes)).toEqual(Array.from(bytes))
    expect(await s.getMeta('head/t/0')).toEqual({ next: 2 ** 33 + 10 })
  })

  it('reads values without lastOffset (version 1) beside values with it, in one range', async () => {
    const factory = new IDBFactory()
    const name = uniqueName()
    const request = factory.open(name, 1)
    request.onupgradeneeded = () => {
      request.result.createObjectStore('batches')
      request.result.createObjectStore('meta')
    }
    const raw = await requestResult(request)
    const tx = raw.transaction(['batches'], 'readwrite')
    for (const b of [makeBatch(0, 9), makeBatch(10, 14)]) tx.objectStore('batches').put({ baseOffset: b.baseOffset, maxTimestamp: b.maxTimestamp, bytes: b.bytes }, ['t/0', b.lastOffset])
    await new Promise((resolve) => (tx.oncomplete = resolve))
    raw.close()
    const s = await open(name, factory)
    await s.commit({ batches: [{ stream: 't/0', batch: makeBatch(15, 19) }, { stream: 't/0', batch: makeBatch(20, 29) }] })
    expect((await s.readBatches('t/0', 0, { maxBytes: 1e9 })).map((b) => [b.baseOffset, b.lastOffset])).toEqual([[0, 9], [10, 14], [15, 19], [20, 29]])
    expect((await s.readBatches('t/0', 16, { maxBytes: 1e9 })).map((b) => [b.baseOffset, b.lastOffset])).toEqual([[15, 19], [20, 29]])
    expect((await s.readBatches('t/0', 12, { maxBytes: 1e9, maxBatches: 2 })).map((b) => b.lastOffset)).toEqual([14, 19])
  })

  it('an upgrade runs only the steps past the stored version and keeps the data', async () => {
    const factory = new IDBFactory()
    const name = uniqueName()
    const s = await IndexedDBStorage.open(name, { indexedDB: factory })
    await s.commit({ batches: [{ stream: 't/0', batch: makeBatch(0, 4) }], meta: [{ key: 'topic/t', value: { id: 'x' } }] })
    await s.close()

    const first = vi.fn<Migration>((db, tx) => MIGRATIONS[0]!(db, tx))
    const next = vi.fn<Migration>((db) => {
      db.createObjectStore('extra' as never)
    })
    const db = await openDatabase(name, { factory, version: DB_VERSION + 1, migrations: [first, ...MIGRATIONS.slice(1), next] })
    expect(first).not.toHaveBeenCalled()
    expect(next).toHaveBeenCalledTimes(1)
    expect([...db.objectStoreNames].sort()).toEqual(['batches', 'extra', 'meta'])
    expect(await db.get('meta', 'topic/t')).toEqual({ id: 'x' })
    expect(await db.count('batches')).toBe(1)
    db.close()
  })

  it('a database newer than this code fails typed (STORAGE_ERROR, not retriable)', async () => {
    const factory = new IDBFactory()
    const name = uniqueName()
    const db = await openDatabase(name, { factory, version: DB_VERSION + 1, migrations: [...MIGRATIONS, () => {}] })
    db.close()
    await expect(IndexedDBStorage.open(name, { indexedDB: factory })).rejects.toMatchObject({ code: 'STORAGE_ERROR', retriable: false })
  })

  it('an open instance steps aside for another context’s upgrade, then fails typed', async () => {
    const factory = new IDBFactory()
    const name = uniqueName()
    const s = await open(name, factory)
    await s.commit({ meta: [{ key: 'a', value: 1 }] })
    const blocked = vi.fn()
    const newer = await openDatabase(name, { factory, version: DB_VERSION + 1, migrations: [...MIGRATIONS, () => {}], blocked })
    expect(blocked).not.toHaveBeenCalled()
    expect(await newer.get('meta', 'a')).toBe(1)
    newer.close()
    await expect(s.getMeta('a')).rejects.toMatchObject({ code: 'STORAGE_ERROR', retriable: false })
  })

  it('an open instance lets another context delete the database, then reopens a fresh one', async () => {
    const factory = new IDBFactory()
    const name = uniqueName()
    const s = await open(name, factory)
    await s.commit({ batches: [{ stream: 't/0', batch: makeBatch(0, 0) }], meta: [{ key: 'a', value: 1 }] })
    const request = factory.deleteDatabase(name)
    const blocked = vi.fn()
    request.onblocked = blocked
    await requestResult(request)
    expect(blocked).not.toHaveBeenCalled()
    expect(await s.getMeta('a')).toBeUndefined()
    expect(await s.readBatches('t/0', 0, { maxBytes: 1e9 })).toEqual([])
    await s.commit({ meta: [{ key: 'b', value: 2 }] })
    expect(await s.listMeta('')).toEqual([{ key: 'b', value: 2 }])
  })
})

describe('IndexedDBStorage: connection lost', () => {
  it('reopens lazily after the browser closed the connection (storage cleared, disk error)', async () => {
    const factory = new IDBFactory()
    const name = uniqueName()
    const requests: IDBOpenDBRequest[] = []
    const realOpen = factory.open.bind(factory)
    vi.spyOn(factory, 'open').mockImplementation((n: string, v?: number) => {
      const request = realOpen(n, v)
      requests.push(request)
      return request
    })
    const s = await open(name, factory)
    await s.commit({ meta: [{ key: 'a', value: 1 }] })
    forceCloseDatabase(requests[0]!.result as never)
    await new Promise((r) => setTimeout(r, 10))
    expect(await s.getMeta('a')).toBe(1)
    await s.commit({ meta: [{ key: 'b', value: 2 }] })
    expect(requests).toHaveLength(2)
    expect((await s.listMeta('')).map((e) => e.key)).toEqual(['a', 'b'])
  })
})

describe('IndexedDBStorage: watch between two instances on one database', () => {
  async function collect(s: IndexedDBStorage) {
    const seen: StorageChange[] = []
    const stop = s.watch((c) => seen.push(c))
    const settle = () => new Promise((r) => setTimeout(r, 50))
    return { seen, stop, settle }
  }

  it('reports appends and meta keys of the other instance, never its own', async () => {
    const factory = new IDBFactory()
    const name = uniqueName()
    const a = await open(name, factory)
    const b = await open(name, factory)
    const onA = await collect(a)
    const onB = await collect(b)

    await b.commit({ batches: [{ stream: 't/0', batch: makeBatch(0, 9) }, { stream: 't/0', batch: makeBatch(10, 11) }], meta: [{ key: 'head/t/0', value: { next: 12 } }] })
    await onA.settle()
    expect(onA.seen).toEqual([
      { kind: 'append', stream: 't/0', nextOffset: 12 },
      { kind: 'meta', key: 'head/t/0' },
    ])
    expect(onB.seen).toEqual([])

    // a prefix delete names every key it removed
    await a.commit({ meta: [{ key: 'offset/g/t/0', value: 1 }, { key: 'offset/g/t/1', value: 2 }, { key: 'offset/h/t/0', value: 3 }] })
    await onB.settle()
    onB.seen.length = 0
    await a.commit({ deleteMetaPrefixes: ['offset/g/'] })
    await onB.settle()
    expect(onB.seen).toEqual([
      { kind: 'meta', key: 'offset/g/t/0' },
      { kind: 'meta', key: 'offset/g/t/1' },
    ])

    // a failed commit announces nothing
    onB.seen.length = 0
    await expect(a.commit({ meta: [{ key: 'x', value: { f: () => 1 } }] })).rejects.toThrow()
    await onB.settle()
    expect(onB.seen).toEqual([])

    onA.stop()
    onA.seen.length = 0
    await b.commit({ meta: [{ key: 'later', value: 1 }] })
    await onA.settle()
    expect(onA.seen).toEqual([])
  })

  it('instances of different databases do not hear each other', async () => {
    const factory = new IDBFactory()
    const a = await open(uniqueName(), factory)
    const b = await open(uniqueName(), factory)
    const onA = await collect(a)
    await b.commit({ meta: [{ key: 'k', value: 1 }] })
    await onA.settle()
    expect(onA.seen).toEqual([])
  })
})

describe('IndexedDBStorage: reads', () => {
  it('reads past many small batches whatever the first count estimate (getAll loops)', async () => {
    const s = await open(uniqueName(), new IDBFactory())
    const batches = Array.from({ length: 3000 }, (_, i) => makeBatch(i, i, 8))
    await s.commit({ batches: batches.map((batch) => ({ stream: 't/0', batch })) })
    // big batches first teach a large average; small ones must still all come back
    await s.commit({ batches: [{ stream: 't/1', batch: makeBatch(0, 0, 200_000) }] })
    await s.readBatches('t/1', 0, { maxBytes: 1e9 })
    const all = await s.readBatches('t/0', 0, { maxBytes: 8 * 3000 })
    expect(all.map((b) => b.baseOffset)).toEqual(batches.map((b) => b.baseOffset))
    const some = await s.readBatches('t/0', 1000, { maxBytes: 8 * 2500, toOffset: 2500 })
    expect(some).toHaveLength(1500)
    const counted = await s.readBatches('t/0', 10, { maxBytes: 1e12, maxBatches: 2999 })
    expect(counted).toHaveLength(2990)
  })

  it('a read ahead (after a read stopped at maxBytes) never hands out what a later write deleted or replaced', async () => {
    const factory = new IDBFactory()
    const name = uniqueName()
    const s = await open(name, factory)
    const other = await open(name, factory)
    await s.commit({ batches: Array.from({ length: 40 }, (_, i) => ({ stream: 't/0', batch: makeBatch(i * 10, i * 10 + 9, 100) })) })
    const read = (from: number, limits: { maxBytes: number; toOffset?: number; maxBatches?: number } = { maxBytes: 1000 }) => s.readBatches('t/0', from, limits)
    // a consumer's reads: each from where the last ended, each served from the read ahead
    let from = 0
    for (let i = 0; i < 3; i++) {
      const got = await read(from)
      expect(got.map((b) => b.baseOffset)).toEqual(Array.from({ length: 10 }, (_, j) => from + j * 10))
      from = got[got.length - 1]!.lastOffset + 1
    }
    // the next request's own limits apply to what was read ahead
    expect((await read(from, { maxBytes: 350, toOffset: from + 25 })).map((b) => b.baseOffset)).toEqual([from, from + 10, from + 20])
    // this instance replaces what lies ahead (compaction-like: delete and put other bytes)
    await read(0) // reads ahead from 100
    await s.commit({ deleteRanges: [{ stream: 't/0', fromOffset: 100, toOffset: 200 }], batches: [{ stream: 't/0', batch: makeBatch(100, 109, 100, 999) }] })
    const replaced = await read(100)
    expect(replaced.map((b) => b.baseOffset)).toEqual([100, 200, 210, 220, 230, 240, 250, 260, 270, 280])
    expect(Array.from(replaced[0]!.bytes)).toEqual(Array.from(makeBatch(100, 109, 100, 999).bytes))
    // another context deletes (it announces a head change): the read ahead is dropped too
    await s.commit({ batches: Array.from({ length: 30 }, (_, i) => ({ stream: 't/1', batch: makeBatch(i * 10, i * 10 + 9, 100) })) })
    await s.readBatches('t/1', 0, { maxBytes: 1000 }) // reads ahead from 100
    const changed = new Promise<void>((resolve) => { const stop = s.watch!(() => { stop(); resolve() }) })
    await other.commit({ deleteRanges: [{ stream: 't/1', fromOffset: 0, toOffset: 300 }], meta: [{ key: 'head/t/1', value: { logStartOffset: 300 } }] })
    await changed
    expect(await s.readBatches('t/1', 100, { maxBytes: 1000 })).toEqual([])
  })
})
