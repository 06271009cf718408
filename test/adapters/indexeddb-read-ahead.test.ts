// IndexedDBStorage's read-ahead (issue 18, part 2): a read that stopped at maxBytes keeps
// reading on, up to a few fetches ahead of its reader, across fetches. What it holds must never
// outlive a write that deleted or replaced it, here or in another context; appends after it
// are seen; several readers of one stream each read their own.
import 'fake-indexeddb/auto'
import { IDBFactory, forceCloseDatabase } from 'fake-indexeddb'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { IndexedDBStorage } from '../../adapters/indexeddb/storage.ts'
import type { StoredBatch } from '../../core/storage.ts'
import { makeBatch } from '../conformance/storage-suite.ts'

let dbCount = 0
const uniqueName = () => `edgelog-read-ahead-${Date.now().toString(36)}-${++dbCount}`

const opened: IndexedDBStorage[] = []
async function open(name: string, factory: IDBFactory, options: { fetches?: number; getsInFlight?: number; totalBytes?: number } = {}): Promise<IndexedDBStorage> {
  const s = await IndexedDBStorage.open(name, { indexedDB: factory, readAhead: options })
  opened.push(s)
  return s
}
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close()
  vi.restoreAllMocks()
})

/** 100-byte batches of ten offsets each: [0..9], [10..19], … */
const batchesOf = (from: number, count: number, seed?: (i: number) => number) =>
  Array.from({ length: count }, (_, i) => ({ stream: 't/0', batch: makeBatch(from + i * 10, from + i * 10 + 9, 100, seed?.(i)) }))

/** Lets the read-ahead run (fake-indexeddb answers on timers). */
const settle = () => new Promise((r) => setTimeout(r, 20))

const bases = (got: StoredBatch[]) => got.map((b) => b.baseOffset)
const bytesOf = (got: StoredBatch[]) => got.map((b) => Array.from(b.bytes))

async function consume(s: IndexedDBStorage, from: number, reads: number, maxBytes = 1000): Promise<{ got: StoredBatch[]; next: number }> {
  const got: StoredBatch[] = []
  let next = from
  for (let i = 0; i < reads; i++) {
    const batches = await s.readBatches('t/0', next, { maxBytes })
    got.push(...batches)
    if (batches.length > 0) next = batches[batches.length - 1]!.lastOffset + 1
  }
  return { got, next }
}

describe('IndexedDBStorage: read-ahead across fetches', () => {
  it('a consumer reading on gets every batch in order, whatever the window and the read-ahead depth', async () => {
    for (const options of [{}, { fetches: 0 }, { fetches: 1, getsInFlight: 1 }, { fetches: 4, getsInFlight: 3 }]) {
      const s = await open(uniqueName(), new IDBFactory(), options)
      await s.commit({ batches: batchesOf(0, 95) })
      const { got, next } = await consume(s, 0, 11)
      expect(bases(got)).toEqual(Array.from({ length: 95 }, (_, i) => i * 10))
      expect(bytesOf(got)).toEqual(bytesOf(batchesOf(0, 95).map((b) => b.batch)))
      expect(next).toBe(950)
      expect(await s.readBatches('t/0', 950, { maxBytes: 1000 })).toEqual([])
    }
  })

  it('a batch replaced ahead of the reader, after the read-ahead read it, comes back replaced', async () => {
    const s = await open(uniqueName(), new IDBFactory(), { fetches: 3 })
    await s.commit({ batches: batchesOf(0, 60) })
    expect(bases(await s.readBatches('t/0', 0, { maxBytes: 1000 }))).toEqual(Array.from({ length: 10 }, (_, i) => i * 10))
    await s.readBatches('t/0', 100, { maxBytes: 1000 }) // now reading ahead up to ~3 fetches
    await settle()
    // compaction-like: offsets 300..399 deleted and written again with other bytes (in the read-ahead's reach)
    const replacement = batchesOf(300, 10, (i) => 900 + i)
    await s.commit({ deleteRanges: [{ stream: 't/0', fromOffset: 300, toOffset: 400 }], batches: replacement })
    const { got } = await consume(s, 200, 4)
    expect(bases(got)).toEqual(Array.from({ length: 40 }, (_, i) => 200 + i * 10))
    expect(bytesOf(got.slice(10, 20))).toEqual(bytesOf(replacement.map((b) => b.batch)))
  })

  it('a put that overwrites a batch the read-ahead already read (no delete) drops it too', async () => {
    const s = await open(uniqueName(), new IDBFactory(), { fetches: 3 })
    await s.commit({ batches: batchesOf(0, 60) })
    await s.readBatches('t/0', 0, { maxBytes: 1000 })
    await settle()
    const over = { stream: 't/0', batch: makeBatch(150, 159, 100, 4242) }
    await s.commit({ batches: [over] })
    const got = await s.readBatches('t/0', 100, { maxBytes: 1000 })
    expect(bytesOf(got.filter((b) => b.baseOffset === 150))).toEqual(bytesOf([over.batch]))
  })

  it('appends past the end are read after the read-ahead found the end', async () => {
    const s = await open(uniqueName(), new IDBFactory())
    await s.commit({ batches: batchesOf(0, 15) })
    const first = await consume(s, 0, 3)
    expect(first.next).toBe(150)
    await s.commit({ batches: batchesOf(150, 12) })
    const second = await consume(s, first.next, 3)
    expect(bases(second.got)).toEqual(Array.from({ length: 12 }, (_, i) => 150 + i * 10))
  })

  it('appends while the reader is mid-way leave the read-ahead in place and are read in order', async () => {
    const s = await open(uniqueName(), new IDBFactory())
    await s.commit({ batches: batchesOf(0, 30) })
    let { got, next } = await consume(s, 0, 1)
    for (let round = 0; round < 4; round++) {
      await s.commit({ batches: batchesOf(300 + round * 50, 5) })
      const more = await consume(s, next, 1)
      got = got.concat(more.got)
      next = more.next
    }
    const rest = await consume(s, next, 4)
    got = got.concat(rest.got)
    expect(bases(got)).toEqual(Array.from({ length: 50 }, (_, i) => i * 10))
  })

  it('two readers of one stream at different offsets each read their own, interleaved', async () => {
    const s = await open(uniqueName(), new IDBFactory())
    await s.commit({ batches: batchesOf(0, 80) })
    let a = 0
    let b = 400
    const gotA: number[] = []
    const gotB: number[] = []
    for (let i = 0; i < 4; i++) {
      const [ra, rb] = await Promise.all([s.readBatches('t/0', a, { maxBytes: 1000 }), s.readBatches('t/0', b, { maxBytes: 1000 })])
      gotA.push(...bases(ra))
      gotB.push(...bases(rb))
      a = ra[ra.length - 1]!.lastOffset + 1
      b = rb[rb.length - 1]!.lastOffset + 1
    }
    expect(gotA).toEqual(Array.from({ length: 40 }, (_, i) => i * 10))
    expect(gotB).toEqual(Array.from({ length: 40 }, (_, i) => 400 + i * 10))
  })

  it('two reads from the same offset at once both get the same batches', async () => {
    const s = await open(uniqueName(), new IDBFactory())
    await s.commit({ batches: batchesOf(0, 40) })
    await s.readBatches('t/0', 0, { maxBytes: 1000 })
    const [x, y] = await Promise.all([s.readBatches('t/0', 100, { maxBytes: 1000 }), s.readBatches('t/0', 100, { maxBytes: 1000 })])
    expect(bases(x)).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i * 10))
    expect(bases(y)).toEqual(bases(x))
  })

  it('a read waiting on the read-ahead while a write replaces what it reads returns one state, never a mix', async () => {
    const s = await open(uniqueName(), new IDBFactory(), { getsInFlight: 2 })
    await s.commit({ batches: batchesOf(0, 40) })
    await s.readBatches('t/0', 0, { maxBytes: 1000 })
    const replacement = batchesOf(100, 10, (i) => 700 + i)
    const reading = s.readBatches('t/0', 100, { maxBytes: 1000 })
    const writing = s.commit({ deleteRanges: [{ stream: 't/0', fromOffset: 100, toOffset: 200 }], batches: replacement })
    const [got] = await Promise.all([reading, writing])
    const old = bytesOf(batchesOf(100, 10).map((b) => b.batch))
    const fresh = bytesOf(replacement.map((b) => b.batch))
    expect([JSON.stringify(old), JSON.stringify(fresh)]).toContain(JSON.stringify(bytesOf(got)))
    // and after the write, only the new state
    expect(bytesOf(await s.readBatches('t/0', 100, { maxBytes: 1000 }))).toEqual(fresh)
  })

  it("another context's change drops every read-ahead, also one a read is waiting on", async () => {
    const factory = new IDBFactory()
    const name = uniqueName()
    const s = await open(name, factory, { fetches: 4 })
    const other = await open(name, factory)
    await s.commit({ batches: batchesOf(0, 60) })
    await s.readBatches('t/0', 0, { maxBytes: 1000 })
    await settle()
    const changed = new Promise<void>((resolve) => { const stop = s.watch!(() => { stop(); resolve() }) })
    const replacement = batchesOf(200, 10, (i) => 500 + i)
    await other.commit({ deleteRanges: [{ stream: 't/0', fromOffset: 200, toOffset: 300 }], batches: replacement, meta: [{ key: 'head/t/0', value: { nextOffset: 600 } }] })
    await changed
    const { got } = await consume(s, 100, 2)
    expect(bytesOf(got.slice(10))).toEqual(bytesOf(replacement.map((b) => b.batch)))
  })

  it('limits of each read apply to what was read ahead (toOffset, maxBatches, the first batch always)', async () => {
    const s = await open(uniqueName(), new IDBFactory())
    await s.commit({ batches: [...batchesOf(0, 30), { stream: 't/0', batch: makeBatch(300, 309, 5000) }, ...batchesOf(310, 10)] })
    await s.readBatches('t/0', 0, { maxBytes: 1000 })
    await settle()
    expect(bases(await s.readBatches('t/0', 100, { maxBytes: 1000, toOffset: 135 }))).toEqual([100, 110, 120, 130])
    expect(bases(await s.readBatches('t/0', 140, { maxBytes: 1000, maxBatches: 2 }))).toEqual([140, 150])
    expect(bases(await s.readBatches('t/0', 160, { maxBytes: 1000 }))).toEqual([160, 170, 180, 190, 200, 210, 220, 230, 240, 250])
    expect(bases(await s.readBatches('t/0', 260, { maxBytes: 1000 }))).toEqual([260, 270, 280, 290])
    expect(bases(await s.readBatches('t/0', 300, { maxBytes: 1000 }))).toEqual([300])
    expect(bases(await s.readBatches('t/0', 305, { maxBytes: 1000 }))).toEqual([300])
  })

  it('past the bytes all read-aheads may hold, reads still get what they ask for, on every stream', async () => {
    const s = await open(uniqueName(), new IDBFactory(), { fetches: 4, totalBytes: 1500 })
    const streams = ['a/0', 'a/1', 'a/2', 'a/3']
    for (const stream of streams) await s.commit({ batches: batchesOf(0, 50).map(({ batch }) => ({ stream, batch })) })
    const next = new Map(streams.map((stream) => [stream, 0]))
    const got = new Map<string, number[]>(streams.map((stream) => [stream, []]))
    for (let round = 0; round < 6; round++) {
      await Promise.all(streams.map(async (stream) => {
        const batches = await s.readBatches(stream, next.get(stream)!, { maxBytes: 1000 })
        got.get(stream)!.push(...bases(batches))
        if (batches.length > 0) next.set(stream, batches[batches.length - 1]!.lastOffset + 1)
      }))
      await settle()
    }
    for (const stream of streams) expect(got.get(stream)).toEqual(Array.from({ length: 50 }, (_, i) => i * 10))
  })

  it('a read-ahead whose connection the browser closed is read again on a new connection', async () => {
    const factory = new IDBFactory()
    const requests: IDBOpenDBRequest[] = []
    const realOpen = factory.open.bind(factory)
    vi.spyOn(factory, 'open').mockImplementation((n: string, v?: number) => {
      const request = realOpen(n, v)
      requests.push(request)
      return request
    })
    const s = await open(uniqueName(), factory, { getsInFlight: 2 })
    await s.commit({ batches: batchesOf(0, 60) })
    await s.readBatches('t/0', 0, { maxBytes: 1000 }) // reading ahead from 100, now
    forceCloseDatabase(requests[0]!.result as never)
    await settle()
    const { got } = await consume(s, 100, 5)
    expect(bases(got)).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i * 10))
    expect(requests.length).toBeGreaterThan(1)
  })

  it('a read-ahead that failed in the background is read again by the next read, not failed', async () => {
    const s = await open(uniqueName(), new IDBFactory())
    await s.commit({ batches: batchesOf(0, 60) })
    const proto = (globalThis as unknown as { IDBDatabase: { prototype: IDBDatabase } }).IDBDatabase.prototype
    const real = proto.transaction
    let calls = 0
    vi.spyOn(proto, 'transaction').mockImplementation(function (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
      // the second transaction is the read-ahead started as the first read returns
      if (++calls === 2) throw new DOMException('the connection is closing', 'InvalidStateError')
      return real.apply(this, args)
    })
    expect(bases(await s.readBatches('t/0', 0, { maxBytes: 1000 }))).toEqual(Array.from({ length: 10 }, (_, i) => i * 10))
    const { got } = await consume(s, 100, 5)
    expect(calls).toBeGreaterThan(2)
    expect(bases(got)).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i * 10))
    // a read's own failure still fails it
    calls = 1
    await expect(s.readBatches('t/0', 0, { maxBytes: 1000 })).rejects.toMatchObject({ code: 'STORAGE_ERROR' })
  })

  it('more readers at once than read-aheads kept: each still reads its own', async () => {
    const s = await open(uniqueName(), new IDBFactory())
    await s.commit({ batches: batchesOf(0, 60) })
    const froms = Array.from({ length: 40 }, (_, i) => i * 10)
    const got = await Promise.all(froms.map((from) => s.readBatches('t/0', from, { maxBytes: 300 })))
    got.forEach((batches, i) => expect(bases(batches)).toEqual([froms[i]!, froms[i]! + 10, froms[i]! + 20]))
    const again = await Promise.all(froms.map((from) => s.readBatches('t/0', from + 30, { maxBytes: 300 })))
    again.forEach((batches, i) => expect(bases(batches)).toEqual([froms[i]! + 30, froms[i]! + 40, froms[i]! + 50]))
  })

  it('a read after close fails CLOSED, also one waiting on the read-ahead', async () => {
    const s = await open(uniqueName(), new IDBFactory())
    await s.commit({ batches: batchesOf(0, 40) })
    const reading = s.readBatches('t/0', 0, { maxBytes: 1000 })
    await s.close()
    await expect(reading).rejects.toMatchObject({ code: 'CLOSED' })
    await expect(s.readBatches('t/0', 0, { maxBytes: 1000 })).rejects.toMatchObject({ code: 'CLOSED' })
  })
})
