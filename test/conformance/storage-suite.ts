/**
 * The storage port's conformance suite: the specification of `StorageAdapter`
 * (core/storage.ts) as tests. Every adapter runs it unchanged:
 *
 *   describeStorageConformance('MemoryStorage', async () => {
 *     const storage = new MemoryStorage()
 *     return { storage, teardown: () => storage.close() }
 *   })
 *
 * `setup` is called once per test (a fresh, empty store each time); `reopen`, when given,
 * opens a second adapter instance on the same underlying data (same database name, same
 * Durable Object storage) and enables the persistence and cross-instance tests; the suite
 * closes what `reopen` returns, `teardown` cleans up the rest.
 *
 * It imports only vitest and core/storage.ts (no `node:`, no Node globals): it also runs
 * inside workerd.
 *
 * What the port promises, as decided here (adapters must all agree):
 * - `commit` is all-or-nothing. Inside one commit: `deleteRanges` run before `batches`,
 *   `deleteMetaPrefixes` before `meta`; within each list, later entries win. Commits
 *   issued without awaiting apply in call order.
 * - A failed commit rejects with an `EdgelogError` (name 'EdgelogError', string `code`).
 *   Meta values are JSON values; a value that is neither JSON-serialisable nor
 *   structured-cloneable (a BigInt beside a function) must be refused, and so must a batch
 *   whose offsets are not non-negative safe integers with baseOffset <= lastOffset.
 * - Storage is isolated from the caller's objects: mutating the `bytes` or meta value given to
 *   `commit` after it resolves never changes what is stored; nor does mutating what a read
 *   returned, unless the adapter declares `capabilities.zeroCopyReads` (the memory adapter:
 *   readers must then not mutate or transfer read bytes).
 * - Bytes come back as a Uint8Array with exactly the bytes of the view given (a subarray
 *   of a larger buffer stores only its own bytes).
 * - `readBatches(stream, from, { maxBytes, toOffset, maxBatches })` returns, in offset
 *   order, the batches from the first whose lastOffset >= from; it stops before the first
 *   batch whose baseOffset >= toOffset, after maxBatches batches, and before a batch that
 *   would take the total byte length over maxBytes: except that the first batch (if any
 *   is in range) is always returned whatever its size.
 * - `listMeta(prefix)` is a literal starts-with match (no wildcards) in ascending key
 *   order, keys compared by UTF-16 code units as JS does; it sees every key, whatever
 *   characters follow the prefix.
 * - `watch` reports changes committed by *other* instances; `capabilities.shared` adapters
 *   provide `lock` and `watch`.
 * - `expect` preconditions are checked atomically with the write: every listed meta key must
 *   hold a value JSON-equal to the expected one (key order ignored), or be absent when the
 *   expected value is `undefined`; else nothing at all is applied and `commit` rejects with
 *   the retriable EdgelogError STORAGE_CONFLICT. A commit may carry only preconditions.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { StorageAdapter, StorageChange, StoredBatch } from '../../core/storage.ts'

export interface StorageFixture {
  storage: StorageAdapter
  /** Opens another adapter instance over the same stored data. */
  reopen?: () => Promise<StorageAdapter>
  teardown: () => Promise<void>
}

const TS = 1_700_000_000_000

/**
 * A batch with deterministic content: `size` bytes, the first 8 holding baseOffset
 * big-endian (as in Kafka's RecordBatch), the rest a pattern derived from `seed`.
 */
export function makeBatch(baseOffset: number, lastOffset: number, size = 32, seed = baseOffset): StoredBatch {
  const bytes = new Uint8Array(Math.max(size, 8))
  const view = new DataView(bytes.buffer)
  view.setBigInt64(0, BigInt(baseOffset))
  for (let i = 8; i < bytes.length; i++) bytes[i] = (seed * 31 + i * 7) & 0xff
  return { baseOffset, lastOffset, maxTimestamp: TS + lastOffset, bytes: bytes.subarray(0, size) }
}

/** Batches of `recordsPerBatch` records each, contiguous from `from`. */
function run(from: number, count: number, recordsPerBatch = 10, size = 32): StoredBatch[] {
  const out: StoredBatch[] = []
  for (let i = 0; i < count; i++) {
    const base = from + i * recordsPerBatch
    out.push(makeBatch(base, base + recordsPerBatch - 1, size))
  }
  return out
}

/** Comparable form of a batch: plain numbers and an array of bytes. */
function plain(b: StoredBatch): { baseOffset: number; lastOffset: number; maxTimestamp: number; bytes: number[] } {
  return { baseOffset: b.baseOffset, lastOffset: b.lastOffset, maxTimestamp: b.maxTimestamp, bytes: Array.from(b.bytes) }
}

const ALL = { maxBytes: Number.MAX_SAFE_INTEGER }

function isUint8Array(x: unknown): boolean {
  return Object.prototype.toString.call(x) === '[object Uint8Array]'
}

async function rejectionOf(p: Promise<unknown>, what: string): Promise<{ name?: unknown; code?: unknown; retriable?: unknown }> {
  let error: unknown
  try {
    await p
  } catch (e) {
    error = e
  }
  expect(error, `the commit should have been ${what}`).toBeDefined()
  expect((error as { name?: unknown }).name).toBe('EdgelogError')
  return error as { name?: unknown; code?: unknown; retriable?: unknown }
}

async function expectConflict(p: Promise<unknown>): Promise<void> {
  const error = await rejectionOf(p, 'refused')
  expect(error.code).toBe('STORAGE_CONFLICT')
  expect(error.retriable).toBe(true)
}

async function expectEdgelogRejection(p: Promise<unknown>): Promise<void> {
  const error = await rejectionOf(p, 'rejected')
  expect(typeof error.code).toBe('string')
}

export function describeStorageConformance(name: string, setup: () => Promise<StorageFixture>): void {
  describe(`storage conformance: ${name}`, () => {
    let fx: StorageFixture
    let s: StorageAdapter
    const extra: StorageAdapter[] = []

    beforeEach(async () => {
      fx = await setup()
      s = fx.storage
    })
    afterEach(async () => {
      for (const other of extra.splice(0)) await other.close()
      await fx.teardown()
    })

    async function put(stream: string, batches: StoredBatch[]): Promise<void> {
      await s.commit({ batches: batches.map((batch) => ({ stream, batch })) })
    }
    async function readAll(stream: string, storage: StorageAdapter = s): Promise<ReturnType<typeof plain>[]> {
      return (await storage.readBatches(stream, 0, ALL)).map(plain)
    }
    async function reopen(): Promise<StorageAdapter> {
      const other = await fx.reopen!()
      extra.push(other)
      return other
    }

    describe('empty store', () => {
      it('reads nothing from an unknown stream', async () => {
        expect(await s.readBatches('t/0', 0, ALL)).toEqual([])
        expect(await s.readBatches('t/0', 12345, { maxBytes: 1, maxBatches: 1, toOffset: 99999 })).toEqual([])
      })
      it('has no meta', async () => {
        expect(await s.getMeta('anything')).toBeUndefined()
        expect(await s.listMeta('')).toEqual([])
        expect(await s.listMeta('topic/')).toEqual([])
      })
      it('accepts an empty commit and empty lists', async () => {
        await s.commit({})
        await s.commit({ deleteRanges: [], batches: [], meta: [], deleteMetaPrefixes: [] })
        expect(await s.listMeta('')).toEqual([])
      })
      it('declares its capabilities', () => {
        expect(typeof s.capabilities.shared).toBe('boolean')
        if (s.capabilities.preferredBatchBytes !== undefined) expect(s.capabilities.preferredBatchBytes).toBeGreaterThan(0)
        if (s.capabilities.maxValueBytes !== undefined) expect(s.capabilities.maxValueBytes).toBeGreaterThan(0)
        if (s.capabilities.zeroCopyReads !== undefined) expect(typeof s.capabilities.zeroCopyReads).toBe('boolean')
      })
    })

    describe('batches round-trip', () => {
      it('returns what was committed, field for field and byte for byte', async () => {
        const batches = [makeBatch(0, 0, 61), makeBatch(1, 9, 200), makeBatch(10, 10, 8)]
        batches[2]!.maxTimestamp = -1
        await put('t/0', batches)
        const got = await s.readBatches('t/0', 0, ALL)
        expect(got.map(plain)).toEqual(batches.map(plain))
        for (const b of got) expect(isUint8Array(b.bytes)).toBe(true)
      })

      it('stores every byte value and large batches exactly', async () => {
        const all = new Uint8Array(256 * 4)
        for (let i = 0; i < all.length; i++) all[i] = i & 0xff
        const big = new Uint8Array(300 * 1024)
        for (let i = 0; i < big.length; i++) big[i] = (i * 131 + 7) & 0xff
        await put('t/0', [
          { baseOffset: 0, lastOffset: 3, maxTimestamp: TS, bytes: all },
          { baseOffset: 4, lastOffset: 4, maxTimestamp: TS, bytes: big },
        ])
        const got = await s.readBatches('t/0', 0, ALL)
        expect(got).toHaveLength(2)
        expect(got[0]!.bytes.byteLength).toBe(all.length)
        expect(Array.from(got[0]!.bytes)).toEqual(Array.from(all))
        expect(got[1]!.bytes.byteLength).toBe(big.length)
        let same = true
        for (let i = 0; i < big.length; i++) if (got[1]!.bytes[i] !== big[i]) { same = false; break }
        expect(same).toBe(true)
      })

      it('stores only the bytes of a view, not its whole underlying buffer', async () => {
        const backing = new Uint8Array(1000).fill(0xee)
        const view = backing.subarray(100, 150)
        view.fill(0x42)
        await put('t/0', [{ baseOffset: 0, lastOffset: 0, maxTimestamp: TS, bytes: view }])
        const [got] = await s.readBatches('t/0', 0, ALL)
        expect(got!.bytes.byteLength).toBe(50)
        expect(Array.from(got!.bytes)).toEqual(new Array(50).fill(0x42))
      })

      it('keeps stored bytes isolated from the input after commit', async () => {
        const b = makeBatch(0, 4, 40)
        const expected = plain(b)
        await put('t/0', [b])
        b.bytes.fill(0)
        b.baseOffset = 99
        expect(await readAll('t/0')).toEqual([expected])
      })

      it('keeps stored bytes isolated from what a read returned (unless the adapter says zeroCopyReads)', async (ctx) => {
        if (s.capabilities.zeroCopyReads) ctx.skip('zero-copy reads: readers must not mutate')
        const b = makeBatch(0, 4, 40)
        await put('t/0', [b])
        const [first] = await s.readBatches('t/0', 0, ALL)
        first!.bytes.fill(0)
        const [second] = await s.readBatches('t/0', 0, ALL)
        expect(plain(second!)).toEqual(plain(b))
      })

      it('a put with the same (stream, lastOffset) replaces the stored batch', async () => {
        await put('t/0', [makeBatch(0, 9, 32, 1)])
        await put('t/0', [makeBatch(0, 9, 48, 2)])
        expect(await readAll('t/0')).toEqual([plain(makeBatch(0, 9, 48, 2))])
      })

      it('orders batches numerically by offset, whatever the commit order', async () => {
        const offsets = [100, 9, 1000, 10, 99, 2 ** 32, 11, 0]
        for (const o of offsets) await put('t/0', [makeBatch(o, o)])
        const got = await s.readBatches('t/0', 0, ALL)
        expect(got.map((b) => b.lastOffset)).toEqual([...offsets].sort((a, b) => a - b))
      })

      it('one commit may carry batches of many streams', async () => {
        await s.commit({
          batches: [
            { stream: 'x/0', batch: makeBatch(0, 1) },
            { stream: 'x/1', batch: makeBatch(0, 2) },
            { stream: 'x/0', batch: makeBatch(2, 3) },
          ],
        })
        expect((await readAll('x/0')).map((b) => b.lastOffset)).toEqual([1, 3])
        expect((await readAll('x/1')).map((b) => b.lastOffset)).toEqual([2])
      })
    })

    describe('readBatches: where a read starts', () => {
      beforeEach(async () => {
        // [0..9] [10..19] [20..29], then a gap (compacted away), then [40..49]
        await put('t/0', [...run(0, 3), makeBatch(40, 49)])
      })

      it('from any offset inside a batch, the batch holding it comes first', async () => {
        for (const [from, first] of [[0, 0], [5, 0], [9, 0], [10, 10], [11, 10], [19, 10], [25, 20], [29, 20], [45, 40], [49, 40]] as const) {
          const got = await s.readBatches('t/0', from, { maxBytes: 1, maxBatches: 1 })
          expect(got.map((b) => b.baseOffset), `from ${from}`).toEqual([first])
        }
      })

      it('returns the rest of the stream in order', async () => {
        expect((await s.readBatches('t/0', 15, ALL)).map((b) => b.baseOffset)).toEqual([10, 20, 40])
      })

      it('from an offset in a gap, starts at the next batch', async () => {
        for (const from of [30, 35, 39]) {
          expect((await s.readBatches('t/0', from, ALL)).map((b) => b.baseOffset)).toEqual([40])
        }
      })

      it('from past the last offset, returns nothing', async () => {
        expect(await s.readBatches('t/0', 50, ALL)).toEqual([])
        expect(await s.readBatches('t/0', 2 ** 40, ALL)).toEqual([])
      })
    })

    describe('replica streams (what a follower writes)', () => {
      it('a stream may start at any offset; emptied with its head in one commit, it restarts elsewhere', async () => {
        // A replica holds the leader's batches at the leader's offsets, from wherever it began.
        await put('r/0', run(1_000, 3))
        expect((await s.readBatches('r/0', 0, ALL)).map((b) => b.baseOffset)).toEqual([1_000, 1_010, 1_020])
        // The leader's retention passed it: everything goes, the head moves, in one commit.
        await s.commit({
          deleteRanges: [{ stream: 'r/0', fromOffset: 0, toOffset: Number.MAX_SAFE_INTEGER }],
          meta: [{ key: 'head/r/0', value: { logStartOffset: 5_000, nextOffset: 5_000 } }],
        })
        expect(await readAll('r/0')).toEqual([])
        await put('r/0', run(5_000, 2))
        expect((await s.readBatches('r/0', 1_005, ALL)).map((b) => b.baseOffset)).toEqual([5_000, 5_010])
        expect(await s.getMeta('head/r/0')).toEqual({ logStartOffset: 5_000, nextOffset: 5_000 })
      })
    })

    describe('readBatches: limits', () => {
      beforeEach(async () => {
        // five batches of 100 bytes: [0..9] .. [40..49]
        await put('t/0', run(0, 5, 10, 100))
      })
      const bases = async (from: number, options: { maxBytes: number; toOffset?: number; maxBatches?: number }) =>
        (await s.readBatches('t/0', from, options)).map((b) => b.baseOffset)

      it('maxBytes: returns the longest run that fits', async () => {
        expect(await bases(0, { maxBytes: 500 })).toEqual([0, 10, 20, 30, 40])
        expect(await bases(0, { maxBytes: 499 })).toEqual([0, 10, 20, 30])
        expect(await bases(0, { maxBytes: 300 })).toEqual([0, 10, 20])
        expect(await bases(0, { maxBytes: 250 })).toEqual([0, 10])
        expect(await bases(15, { maxBytes: 200 })).toEqual([10, 20])
      })

      it('maxBytes: the first batch is returned even when it is bigger', async () => {
        expect(await bases(0, { maxBytes: 99 })).toEqual([0])
        expect(await bases(0, { maxBytes: 1 })).toEqual([0])
        expect(await bases(0, { maxBytes: 0 })).toEqual([0])
        expect(await bases(33, { maxBytes: 1 })).toEqual([30])
        await put('t/1', [makeBatch(0, 0, 5000), makeBatch(1, 1, 10)])
        const got = await s.readBatches('t/1', 0, { maxBytes: 100 })
        expect(got.map((b) => b.bytes.byteLength)).toEqual([5000])
      })

      it('maxBytes: stops at a big batch after the first', async () => {
        await put('t/1', [makeBatch(0, 0, 10), makeBatch(1, 1, 5000), makeBatch(2, 2, 10)])
        const got = await s.readBatches('t/1', 0, { maxBytes: 100 })
        expect(got.map((b) => b.baseOffset)).toEqual([0])
      })

      it('toOffset: excludes batches whose baseOffset is at or past it', async () => {
        expect(await bases(0, { maxBytes: 1e9, toOffset: 50 })).toEqual([0, 10, 20, 30, 40])
        expect(await bases(0, { maxBytes: 1e9, toOffset: 41 })).toEqual([0, 10, 20, 30, 40])
        expect(await bases(0, { maxBytes: 1e9, toOffset: 40 })).toEqual([0, 10, 20, 30])
        expect(await bases(0, { maxBytes: 1e9, toOffset: 21 })).toEqual([0, 10, 20])
        expect(await bases(0, { maxBytes: 1e9, toOffset: 1 })).toEqual([0])
      })

      it('toOffset: may exclude even the first batch', async () => {
        expect(await bases(0, { maxBytes: 1e9, toOffset: 0 })).toEqual([])
        expect(await bases(25, { maxBytes: 1e9, toOffset: 20 })).toEqual([])
        // toOffset at or below `from` still returns the batch holding `from` when it starts before toOffset
        expect(await bases(25, { maxBytes: 1e9, toOffset: 21 })).toEqual([20])
      })

      it('maxBatches: at most that many', async () => {
        expect(await bases(0, { maxBytes: 1e9, maxBatches: 1 })).toEqual([0])
        expect(await bases(12, { maxBytes: 1e9, maxBatches: 2 })).toEqual([10, 20])
        expect(await bases(0, { maxBytes: 1e9, maxBatches: 100 })).toEqual([0, 10, 20, 30, 40])
      })

      it('the tightest of the limits wins', async () => {
        expect(await bases(0, { maxBytes: 300, toOffset: 50, maxBatches: 4 })).toEqual([0, 10, 20])
        expect(await bases(0, { maxBytes: 500, toOffset: 30, maxBatches: 4 })).toEqual([0, 10, 20])
        expect(await bases(0, { maxBytes: 500, toOffset: 50, maxBatches: 2 })).toEqual([0, 10])
      })
    })

    describe('streams are isolated', () => {
      it("'a/1' never sees 'a/10', 'a/1/x' or 'a/' and back", async () => {
        const streams = ['a/1', 'a/10', 'a/11', 'a/1/x', 'a/', 'a', 'b/1', 'a/1 ']
        for (const [i, stream] of streams.entries()) await put(stream, [makeBatch(0, i, 16, i), makeBatch(i + 1, i + 1, 16, 100 + i)])
        for (const [i, stream] of streams.entries()) {
          expect(await readAll(stream), stream).toEqual([plain(makeBatch(0, i, 16, i)), plain(makeBatch(i + 1, i + 1, 16, 100 + i))])
        }
      })

      it('a range delete touches only its own stream', async () => {
        for (const stream of ['a/1', 'a/10', 'a/2']) await put(stream, run(0, 3))
        await s.commit({ deleteRanges: [{ stream: 'a/1', fromOffset: 0, toOffset: 1e15 }] })
        expect(await readAll('a/1')).toEqual([])
        expect(await readAll('a/10')).toHaveLength(3)
        expect(await readAll('a/2')).toHaveLength(3)
      })

      it('stream names may hold any characters', async () => {
        const streams = ['t_x/0', 't%/0', "t'/0", 'tête/0', '主题/0', '😀/0', 'a\\b/0']
        for (const [i, stream] of streams.entries()) await put(stream, [makeBatch(0, 0, 16, i)])
        for (const [i, stream] of streams.entries()) expect(await readAll(stream), stream).toEqual([plain(makeBatch(0, 0, 16, i))])
        expect(await readAll('t/0')).toEqual([])
      })
    })

    describe('range deletes', () => {
      beforeEach(async () => {
        await put('t/0', run(0, 3)) // lastOffsets 9, 19, 29
      })
      const lasts = async () => (await s.readBatches('t/0', 0, ALL)).map((b) => b.lastOffset)

      it('delete batches whose lastOffset is in [fromOffset, toOffset)', async () => {
        await s.commit({ deleteRanges: [{ stream: 't/0', fromOffset: 0, toOffset: 9 }] })
        expect(await lasts()).toEqual([9, 19, 29])
        await s.commit({ deleteRanges: [{ stream: 't/0', fromOffset: 0, toOffset: 10 }] })
        expect(await lasts()).toEqual([19, 29])
        await s.commit({ deleteRanges: [{ stream: 't/0', fromOffset: 15, toOffset: 29 }] })
        expect(await lasts()).toEqual([29])
        await s.commit({ deleteRanges: [{ stream: 't/0', fromOffset: 29, toOffset: 30 }] })
        expect(await lasts()).toEqual([])
      })

      it('a read after a delete from the start begins at the first survivor', async () => {
        await s.commit({ deleteRanges: [{ stream: 't/0', fromOffset: 0, toOffset: 20 }] })
        expect((await s.readBatches('t/0', 0, ALL)).map((b) => b.baseOffset)).toEqual([20])
        expect((await s.readBatches('t/0', 5, ALL)).map((b) => b.baseOffset)).toEqual([20])
      })

      it('empty, inverted and unknown-stream ranges delete nothing', async () => {
        await s.commit({
          deleteRanges: [
            { stream: 't/0', fromOffset: 10, toOffset: 10 },
            { stream: 't/0', fromOffset: 30, toOffset: 0 },
            { stream: 't/0', fromOffset: 30, toOffset: 1e6 },
            { stream: 'nope/0', fromOffset: 0, toOffset: 1e6 },
          ],
        })
        expect(await lasts()).toEqual([9, 19, 29])
      })

      it('several ranges in one commit', async () => {
        await put('t/1', run(0, 3))
        await s.commit({
          deleteRanges: [
            { stream: 't/0', fromOffset: 0, toOffset: 10 },
            { stream: 't/0', fromOffset: 29, toOffset: 30 },
            { stream: 't/1', fromOffset: 10, toOffset: 20 },
          ],
        })
        expect(await lasts()).toEqual([19])
        expect((await readAll('t/1')).map((b) => b.lastOffset)).toEqual([9, 29])
      })

      it('deleteRanges run before the puts of the same commit (a compaction rewrite)', async () => {
        // rewrite [0..19] as one compacted batch [3..19] (offsets kept, gaps allowed)
        const compacted = makeBatch(3, 19, 24, 77)
        await s.commit({
          deleteRanges: [{ stream: 't/0', fromOffset: 0, toOffset: 20 }],
          batches: [{ stream: 't/0', batch: compacted }],
          meta: [{ key: 'seg/t/0/0', value: { baseOffset: 0, endOffset: 20 } }],
        })
        const got = await s.readBatches('t/0', 0, ALL)
        expect(got.map(plain)).toEqual([plain(compacted), plain(makeBatch(20, 29))])
        expect((await s.readBatches('t/0', 1, { maxBytes: 1 })).map((b) => b.baseOffset)).toEqual([3])
        expect(await s.getMeta('seg/t/0/0')).toEqual({ baseOffset: 0, endOffset: 20 })
      })

      it('a rewrite may replace one batch by several and keep a same-key batch', async () => {
        const parts = [makeBatch(0, 4, 16, 5), makeBatch(5, 9, 16, 6)]
        await s.commit({
          deleteRanges: [{ stream: 't/0', fromOffset: 0, toOffset: 10 }],
          batches: parts.map((batch) => ({ stream: 't/0', batch })),
        })
        expect(await readAll('t/0')).toEqual([...parts.map(plain), plain(makeBatch(10, 19)), plain(makeBatch(20, 29))])
      })
    })

    describe('meta', () => {
      it('put, get, overwrite, delete by undefined', async () => {
        await s.commit({ meta: [{ key: 'k', value: { a: 1 } }] })
        expect(await s.getMeta('k')).toEqual({ a: 1 })
        await s.commit({ meta: [{ key: 'k', value: { a: 2, b: [1, 2] } }] })
        expect(await s.getMeta('k')).toEqual({ a: 2, b: [1, 2] })
        await s.commit({ meta: [{ key: 'k', value: undefined }] })
        expect(await s.getMeta('k')).toBeUndefined()
        expect(await s.listMeta('')).toEqual([])
        await s.commit({ meta: [{ key: 'never-there', value: undefined }] })
        expect(await s.listMeta('')).toEqual([])
      })

      it('round-trips JSON values of every kind', async () => {
        const values: Record<string, unknown> = {
          null: null,
          zero: 0,
          neg: -12.5,
          big: Number.MAX_SAFE_INTEGER,
          above32: 2 ** 32 + 1,
          str: 'héllo 主题 😀 "quoted" \\ \n',
          empty: '',
          t: true,
          f: false,
          arr: [1, 'two', null, [3], { four: 4 }],
          obj: { nested: { deep: { list: [] as unknown[], o: {} } }, n: 1 },
        }
        await s.commit({ meta: Object.entries(values).map(([key, value]) => ({ key: `v/${key}`, value })) })
        for (const [key, value] of Object.entries(values)) expect(await s.getMeta(`v/${key}`), key).toEqual(value)
        expect(await s.getMeta('v/null')).toBeNull()
      })

      it('later entries of one commit win; deleteMetaPrefixes run before meta puts', async () => {
        await s.commit({ meta: [{ key: 'topic/a', value: 1 }, { key: 'group/g', value: 1 }] })
        await s.commit({
          deleteMetaPrefixes: ['topic/'],
          meta: [
            { key: 'topic/a', value: 2 },
            { key: 'topic/b', value: 1 },
            { key: 'topic/b', value: 3 },
            { key: 'group/g', value: undefined },
            { key: 'group/h', value: 1 },
            { key: 'group/h', value: undefined },
          ],
        })
        expect(await s.listMeta('')).toEqual([
          { key: 'topic/a', value: 2 },
          { key: 'topic/b', value: 3 },
        ])
      })

      it('stored values are isolated from the caller both ways', async () => {
        const value = { list: [1, 2], o: { x: 1 } }
        await s.commit({ meta: [{ key: 'k', value }] })
        value.list.push(3)
        value.o.x = 2
        const got = await s.getMeta<typeof value>('k')
        expect(got).toEqual({ list: [1, 2], o: { x: 1 } })
        got!.list.push(4)
        const listed = await s.listMeta<typeof value>('k')
        listed[0]!.value.o.x = 9
        expect(await s.getMeta('k')).toEqual({ list: [1, 2], o: { x: 1 } })
      })

      it('keys may hold any characters', async () => {
        const keys = ['', ' ', 'a b', 'offset/grüppe/t/0', 'group/主题', 'group/😀', "q'uote", 'back\\slash', 'pct%', 'under_score', 'nul\u0000byte']
        await s.commit({ meta: keys.map((key, i) => ({ key, value: i })) })
        for (const [i, key] of keys.entries()) expect(await s.getMeta(key), JSON.stringify(key)).toBe(i)
      })
    })

    describe('listMeta', () => {
      it('lists by prefix in ascending key order', async () => {
        const keys = ['topic/b', 'topic/a', 'topic/ab', 'topic/a/x', 'topic/A', 'topic/0', 'topic/', 'topicx', 'topi', 'group/a']
        await s.commit({ meta: keys.map((key) => ({ key, value: key.length })) })
        const listed = await s.listMeta('topic/')
        expect(listed.map((e) => e.key)).toEqual(['topic/', 'topic/0', 'topic/A', 'topic/a', 'topic/a/x', 'topic/ab', 'topic/b'])
        expect(listed.map((e) => e.value)).toEqual([6, 7, 7, 7, 9, 8, 7])
        expect((await s.listMeta('')).map((e) => e.key)).toEqual([...keys].sort())
      })

      it("prefix traps: 'topic/a' vs 'topic/ab', 'topic/a/'", async () => {
        await s.commit({ meta: ['topic/a', 'topic/ab', 'topic/a/0', 'topic/b', 'topic/`', 'topic/a0'].map((key) => ({ key, value: 1 })) })
        expect((await s.listMeta('topic/a')).map((e) => e.key)).toEqual(['topic/a', 'topic/a/0', 'topic/a0', 'topic/ab'])
        expect((await s.listMeta('topic/a/')).map((e) => e.key)).toEqual(['topic/a/0'])
        expect((await s.listMeta('topic/ab')).map((e) => e.key)).toEqual(['topic/ab'])
        expect(await s.listMeta('topic/abc')).toEqual([])
        expect(await s.listMeta('topic/c')).toEqual([])
      })

      it('numbers in keys sort as strings (pad them: padOffset)', async () => {
        await s.commit({ meta: ['seg/t/10', 'seg/t/9', 'seg/t/100'].map((key) => ({ key, value: 0 })) })
        expect((await s.listMeta('seg/t/')).map((e) => e.key)).toEqual(['seg/t/10', 'seg/t/100', 'seg/t/9'])
      })

      it('the prefix is literal: no wildcards', async () => {
        await s.commit({ meta: ['a_b', 'axb', 'a%', 'abc', 'a.c', 'a*', 'a?', 'a[1]', 'a1'].map((key) => ({ key, value: 0 })) })
        expect((await s.listMeta('a_')).map((e) => e.key)).toEqual(['a_b'])
        expect((await s.listMeta('a%')).map((e) => e.key)).toEqual(['a%'])
        expect((await s.listMeta('a.')).map((e) => e.key)).toEqual(['a.c'])
        expect((await s.listMeta('a*')).map((e) => e.key)).toEqual(['a*'])
        expect((await s.listMeta('a?')).map((e) => e.key)).toEqual(['a?'])
        expect((await s.listMeta('a[')).map((e) => e.key)).toEqual(['a[1]'])
      })

      it('sees every key after the prefix, non-ASCII included, in code-unit order', async () => {
        const keys = ['group/z', 'group/é', 'group/主', 'group/😀', 'group/~', 'group/😀/x']
        await s.commit({ meta: keys.map((key) => ({ key, value: 1 })) })
        expect((await s.listMeta('group/')).map((e) => e.key)).toEqual(['group/z', 'group/~', 'group/é', 'group/主', 'group/😀', 'group/😀/x'])
        expect((await s.listMeta('group/😀')).map((e) => e.key)).toEqual(['group/😀', 'group/😀/x'])
        expect((await s.listMeta('group/é')).map((e) => e.key)).toEqual(['group/é'])
        // no "prefix + '\uffff'" upper bound: it would miss these
        await s.commit({ meta: ['edge/a', 'edge/\uffff', 'edge/\uffffz', 'edge/\uffff\uffff', 'edgf'].map((key) => ({ key, value: 1 })) })
        expect((await s.listMeta('edge/')).map((e) => e.key)).toEqual(['edge/a', 'edge/\uffff', 'edge/\uffffz', 'edge/\uffff\uffff'])
        expect((await s.listMeta('edge/\uffff')).map((e) => e.key)).toEqual(['edge/\uffff', 'edge/\uffffz', 'edge/\uffff\uffff'])
        await s.commit({ deleteMetaPrefixes: ['edge/\uffff'] })
        expect((await s.listMeta('ed')).map((e) => e.key)).toEqual(['edge/a', 'edgf'])
      })
    })

    describe('deleteMetaPrefixes', () => {
      it('deletes every key starting with a prefix, nothing else', async () => {
        const keys = ['offset/g/t/0', 'offset/g/t/1', 'offset/g/u/0', 'offset/g2/t/0', 'offset/g', 'offset/', 'group/g', 'offset/g_/t']
        await s.commit({ meta: keys.map((key) => ({ key, value: 1 })) })
        await s.commit({ deleteMetaPrefixes: ['offset/g/'] })
        expect((await s.listMeta('')).map((e) => e.key)).toEqual(['group/g', 'offset/', 'offset/g', 'offset/g2/t/0', 'offset/g_/t'])
      })

      it('starts-with semantics: a prefix without a separator takes its longer neighbours too', async () => {
        await s.commit({ meta: ['topic/a', 'topic/ab', 'topic/b', 'topic/a/0'].map((key) => ({ key, value: 1 })) })
        await s.commit({ deleteMetaPrefixes: ['topic/a'] })
        expect((await s.listMeta('')).map((e) => e.key)).toEqual(['topic/b'])
      })

      it('several prefixes, literal characters, unknown prefixes', async () => {
        await s.commit({ meta: ['p_1', 'px1', 'q%', 'qz', 'r/😀/1', 'r/😀', 'r/a'].map((key) => ({ key, value: 1 })) })
        await s.commit({ deleteMetaPrefixes: ['p_', 'q%', 'r/😀', 'nothing/'] })
        expect((await s.listMeta('')).map((e) => e.key)).toEqual(['px1', 'qz', 'r/a'])
      })

      it('an empty prefix deletes all meta and no batches', async () => {
        await put('t/0', run(0, 2))
        await s.commit({ meta: [{ key: 'a', value: 1 }, { key: 'b', value: 2 }] })
        await s.commit({ deleteMetaPrefixes: [''] })
        expect(await s.listMeta('')).toEqual([])
        expect(await readAll('t/0')).toHaveLength(2)
      })
    })

    describe('commit atomicity', () => {
      async function seed(): Promise<void> {
        await put('t/0', run(0, 3))
        await put('t/1', run(0, 1))
        await s.commit({ meta: [{ key: 'head/t/0', value: { next: 30 } }, { key: 'topic/t', value: { n: 2 } }, { key: 'group/g', value: 1 }] })
      }
      async function snapshot(storage: StorageAdapter = s) {
        return { t0: await readAll('t/0', storage), t1: await readAll('t/1', storage), t2: await readAll('t/2', storage), meta: await storage.listMeta('') }
      }

      it('a mixed write is applied whole', async () => {
        await seed()
        await s.commit({
          deleteRanges: [{ stream: 't/0', fromOffset: 0, toOffset: 10 }],
          batches: [
            { stream: 't/0', batch: makeBatch(30, 39) },
            { stream: 't/2', batch: makeBatch(0, 0) },
          ],
          meta: [
            { key: 'head/t/0', value: { next: 40 } },
            { key: 'topic/t', value: undefined },
          ],
          deleteMetaPrefixes: ['group/'],
          durability: 'strict',
        })
        const snap = await snapshot()
        expect(snap.t0.map((b) => b.lastOffset)).toEqual([19, 29, 39])
        expect(snap.t1).toHaveLength(1)
        expect(snap.t2.map((b) => b.lastOffset)).toEqual([0])
        expect(snap.meta).toEqual([{ key: 'head/t/0', value: { next: 40 } }])
      })

      it('a commit with a meta value that cannot be stored fails whole', async () => {
        await seed()
        const before = await snapshot()
        await expectEdgelogRejection(
          s.commit({
            deleteRanges: [{ stream: 't/0', fromOffset: 0, toOffset: 20 }],
            batches: [
              { stream: 't/0', batch: makeBatch(30, 39) },
              { stream: 't/2', batch: makeBatch(0, 0) },
            ],
            meta: [
              { key: 'head/t/0', value: { next: 40 } },
              { key: 'topic/t', value: undefined },
              // neither JSON (BigInt) nor structured-cloneable (function)
              { key: 'bad', value: { n: 1n, f: () => 1 } },
              { key: 'after-bad', value: 1 },
            ],
            deleteMetaPrefixes: ['group/'],
          }),
        )
        expect(await snapshot()).toEqual(before)
        // and the store still works
        await s.commit({ meta: [{ key: 'ok', value: true }] })
        expect(await s.getMeta('ok')).toBe(true)
      })

      it('a commit with an impossible batch fails whole', async () => {
        await seed()
        const before = await snapshot()
        const bad: StoredBatch[] = [
          { ...makeBatch(50, 59), baseOffset: 60 }, // baseOffset > lastOffset
          { ...makeBatch(50, 59), lastOffset: Number.NaN },
          { ...makeBatch(50, 59), baseOffset: -1 },
          { ...makeBatch(50, 59), lastOffset: 59.5 },
          { ...makeBatch(50, 59), lastOffset: 2 ** 53 },
        ]
        for (const batch of bad) {
          await expectEdgelogRejection(
            s.commit({
              deleteRanges: [{ stream: 't/0', fromOffset: 0, toOffset: 20 }],
              batches: [{ stream: 't/2', batch: makeBatch(0, 0) }, { stream: 't/0', batch }],
              meta: [{ key: 'head/t/0', value: { next: 60 } }],
            }),
          )
          expect(await snapshot()).toEqual(before)
        }
      })

      it('a failed commit does not disturb commits around it', async () => {
        const results = await Promise.allSettled([
          s.commit({ meta: [{ key: 'a', value: 1 }] }),
          s.commit({ meta: [{ key: 'b', value: { f: () => 1, n: 1n } }, { key: 'c', value: 1 }] }),
          s.commit({ meta: [{ key: 'd', value: 1 }] }),
        ])
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
        expect((await s.listMeta('')).map((e) => e.key)).toEqual(['a', 'd'])
      })

      it('commits issued without awaiting all apply, in call order', async () => {
        const pending: Promise<void>[] = []
        for (let i = 0; i < 50; i++) {
          pending.push(s.commit({ batches: [{ stream: 't/0', batch: makeBatch(i, i) }], meta: [{ key: 'head/t/0', value: { next: i + 1 } }] }))
        }
        await Promise.all(pending)
        expect((await readAll('t/0')).map((b) => b.baseOffset)).toEqual(Array.from({ length: 50 }, (_, i) => i))
        expect(await s.getMeta('head/t/0')).toEqual({ next: 50 })
      })

      it('reads see a commit as soon as it resolves', async () => {
        for (let i = 0; i < 20; i++) {
          await s.commit({ batches: [{ stream: 't/0', batch: makeBatch(i, i) }], meta: [{ key: 'head', value: i }] })
          const [last] = await s.readBatches('t/0', i, { maxBytes: 1 })
          expect(last?.lastOffset).toBe(i)
          expect(await s.getMeta('head')).toBe(i)
        }
      })
    })

    describe('commit preconditions (expect)', () => {
      const head = { logStartOffset: 0, nextOffset: 30, activeSegment: 0, cleanedTo: 0 }
      async function seed(): Promise<void> {
        await put('t/0', run(0, 3))
        await s.commit({ meta: [{ key: 'head/t/0', value: head }, { key: 'topic/t', value: { id: 'x', n: 2, config: { a: [1, 'b'] } } }, { key: 'group/g', value: 1 }] })
      }
      async function snapshot() {
        return { t0: await readAll('t/0'), t1: await readAll('t/1'), meta: await s.listMeta('') }
      }
      /** A write touching every kind of change, so a refused one must leave all of them alone. */
      function everything(expect: Array<{ key: string; value: unknown }>) {
        return {
          expect,
          deleteRanges: [{ stream: 't/0', fromOffset: 0, toOffset: 10 }],
          batches: [{ stream: 't/0', batch: makeBatch(30, 39) }, { stream: 't/1', batch: makeBatch(0, 4) }],
          meta: [{ key: 'head/t/0', value: { ...head, nextOffset: 40 } }, { key: 'topic/t', value: undefined }, { key: 'new', value: 1 }],
          deleteMetaPrefixes: ['group/'],
        }
      }

      it('a matching precondition commits the whole write', async () => {
        await seed()
        await s.commit(everything([{ key: 'head/t/0', value: { ...head } }]))
        const snap = await snapshot()
        expect(snap.t0.map((b) => b.lastOffset)).toEqual([19, 29, 39])
        expect(snap.t1.map((b) => b.lastOffset)).toEqual([4])
        expect(snap.meta).toEqual([{ key: 'head/t/0', value: { ...head, nextOffset: 40 } }, { key: 'new', value: 1 }])
      })

      it('compares as JSON values: key order does not matter, values do', async () => {
        await seed()
        const reordered = { cleanedTo: 0, activeSegment: 0, nextOffset: 30, logStartOffset: 0 }
        await s.commit({ expect: [{ key: 'head/t/0', value: reordered }, { key: 'topic/t', value: { config: { a: [1, 'b'] }, n: 2, id: 'x' } }], meta: [{ key: 'a', value: 1 }] })
        expect(await s.getMeta('a')).toBe(1)
        for (const wrong of [{ ...head, nextOffset: 31 }, { ...head, extra: 1 }, { nextOffset: 30 }, [head], 30, null, '30']) {
          await expectConflict(s.commit({ expect: [{ key: 'head/t/0', value: wrong }], meta: [{ key: 'a', value: 2 }] }))
        }
        await expectConflict(s.commit({ expect: [{ key: 'topic/t', value: { id: 'x', n: 2, config: { a: ['b', 1] } } }], meta: [{ key: 'a', value: 2 }] }))
        expect(await s.getMeta('a')).toBe(1)
      })

      it('a mismatching precondition changes nothing (batches, deletes, meta) and is retriable', async () => {
        await seed()
        const before = await snapshot()
        await expectConflict(s.commit(everything([{ key: 'head/t/0', value: { ...head, nextOffset: 29 } }])))
        expect(await snapshot()).toEqual(before)
        // with several preconditions, one failing is enough, wherever it is in the list
        await expectConflict(s.commit(everything([{ key: 'head/t/0', value: head }, { key: 'group/g', value: 2 }])))
        await expectConflict(s.commit(everything([{ key: 'group/g', value: 2 }, { key: 'head/t/0', value: head }])))
        await expectConflict(s.commit({ ...everything([{ key: 'head/t/0', value: head }, { key: 'topic/t', value: undefined }]), durability: 'strict' }))
        expect(await snapshot()).toEqual(before)
        // and the store still works: the same write with the right precondition goes through
        await s.commit(everything([{ key: 'head/t/0', value: head }, { key: 'group/g', value: 1 }, { key: 'nothing', value: undefined }]))
        expect(await s.getMeta('head/t/0')).toEqual({ ...head, nextOffset: 40 })
      })

      it('undefined expects the key to be absent; a value expects it present', async () => {
        await expectConflict(s.commit({ expect: [{ key: 'head/t/0', value: head }], meta: [{ key: 'head/t/0', value: head }] }))
        expect(await s.getMeta('head/t/0')).toBeUndefined()
        await s.commit({ expect: [{ key: 'head/t/0', value: undefined }], batches: [{ stream: 't/0', batch: makeBatch(0, 9) }], meta: [{ key: 'head/t/0', value: head }] })
        expect(await s.getMeta('head/t/0')).toEqual(head)
        await expectConflict(s.commit({ expect: [{ key: 'head/t/0', value: undefined }], batches: [{ stream: 't/0', batch: makeBatch(10, 19) }] }))
        expect((await readAll('t/0')).map((b) => b.lastOffset)).toEqual([9])
        // a key deleted (by value undefined or by prefix) counts as absent again
        await s.commit({ deleteMetaPrefixes: ['head/t/'] })
        await expectConflict(s.commit({ expect: [{ key: 'head/t/0', value: head }], meta: [{ key: 'x', value: 1 }] }))
        await s.commit({ expect: [{ key: 'head/t/0', value: undefined }], meta: [{ key: 'x', value: 1 }] })
        expect(await s.getMeta('x')).toBe(1)
      })

      it('is checked against the state left by the commits before it, also when not awaited', async () => {
        // Two writers that both believe the head is 0: exactly one wins, whatever the timing.
        const writes = [0, 1].map((w) => s.commit({
          expect: [{ key: 'head/t/0', value: undefined }],
          batches: [{ stream: 't/0', batch: makeBatch(0, 9, 32, w) }],
          meta: [{ key: 'head/t/0', value: { nextOffset: 10, writer: w } }],
        }))
        const results = await Promise.allSettled(writes)
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected'])
        expect(await s.getMeta('head/t/0')).toEqual({ nextOffset: 10, writer: 0 })
        expect(await readAll('t/0')).toEqual([plain(makeBatch(0, 9, 32, 0))])
        // a chain of commits each expecting the previous one's head all succeed
        const chain: Promise<void>[] = []
        for (let i = 1; i <= 5; i++) {
          chain.push(s.commit({
            expect: [{ key: 'head/t/0', value: i === 1 ? { nextOffset: 10, writer: 0 } : { nextOffset: i * 10 } }],
            batches: [{ stream: 't/0', batch: makeBatch(i * 10, i * 10 + 9) }],
            meta: [{ key: 'head/t/0', value: { nextOffset: (i + 1) * 10 } }],
          }))
        }
        await Promise.all(chain)
        expect((await readAll('t/0')).map((b) => b.lastOffset)).toEqual([9, 19, 29, 39, 49, 59])
      })

      it('a commit of preconditions alone checks them and writes nothing', async () => {
        await seed()
        const before = await snapshot()
        await s.commit({ expect: [{ key: 'head/t/0', value: head }] })
        await expectConflict(s.commit({ expect: [{ key: 'head/t/0', value: undefined }] }))
        expect(await snapshot()).toEqual(before)
      })

      it('holds across instances sharing the store', async (ctx) => {
        if (!fx.reopen) ctx.skip('no reopen for this adapter')
        await seed()
        const r = await reopen()
        await r.commit({ expect: [{ key: 'head/t/0', value: head }], batches: [{ stream: 't/0', batch: makeBatch(30, 39) }], meta: [{ key: 'head/t/0', value: { ...head, nextOffset: 40 } }] })
        await expectConflict(s.commit({ expect: [{ key: 'head/t/0', value: head }], batches: [{ stream: 't/0', batch: makeBatch(30, 34) }], meta: [{ key: 'head/t/0', value: { ...head, nextOffset: 35 } }] }))
        expect((await readAll('t/0')).map((b) => b.lastOffset)).toEqual([9, 19, 29, 39])
      })
    })

    describe('large offsets and counts', () => {
      it('offsets above 2^32 (up to 2^53 - 1) are exact and ordered', async () => {
        const base = 2 ** 32 - 15
        const batches = run(base, 4) // crosses 2^32
        const huge = makeBatch(2 ** 50, 2 ** 50 + 9)
        const top = makeBatch(Number.MAX_SAFE_INTEGER - 5, Number.MAX_SAFE_INTEGER)
        await put('t/0', [...batches, huge, top])
        expect(await readAll('t/0')).toEqual([...batches, huge, top].map(plain))
        expect((await s.readBatches('t/0', 2 ** 32, { maxBytes: 1 })).map((b) => b.baseOffset)).toEqual([base + 10])
        expect((await s.readBatches('t/0', 2 ** 32 + 100, { maxBytes: 1 })).map((b) => b.baseOffset)).toEqual([2 ** 50])
        expect((await s.readBatches('t/0', 2 ** 50 + 10, ALL)).map((b) => b.lastOffset)).toEqual([Number.MAX_SAFE_INTEGER])
        expect((await s.readBatches('t/0', 0, { maxBytes: 1e9, toOffset: 2 ** 50 + 1 })).map((b) => b.baseOffset)).toHaveLength(5)
        await s.commit({ deleteRanges: [{ stream: 't/0', fromOffset: 0, toOffset: 2 ** 32 + 5 }] })
        expect((await readAll('t/0')).map((b) => b.baseOffset)).toEqual([base + 20, base + 30, 2 ** 50, Number.MAX_SAFE_INTEGER - 5])
        await s.commit({ deleteRanges: [{ stream: 't/0', fromOffset: 2 ** 50, toOffset: Number.MAX_SAFE_INTEGER + 1 }] })
        expect((await readAll('t/0')).map((b) => b.baseOffset)).toEqual([base + 20, base + 30])
      })

      it('2,000 batches: reads from the middle, limits, retention from the start', async () => {
        const N = 2000
        const all = run(0, N, 5, 40)
        for (let i = 0; i < N; i += 100) {
          await s.commit({
            batches: all.slice(i, i + 100).map((batch) => ({ stream: 'big/0', batch })),
            meta: [{ key: 'head/big/0', value: { next: (i + 100) * 5 } }],
          })
        }
        await put('big/1', run(0, 10, 5, 40))

        const mid = await s.readBatches('big/0', 5003, { maxBytes: 1e9, maxBatches: 10 })
        expect(mid.map(plain)).toEqual(all.slice(1000, 1010).map(plain))
        const byBytes = await s.readBatches('big/0', 7000, { maxBytes: 40 * 25 + 39 })
        expect(byBytes.map((b) => b.baseOffset)).toEqual(all.slice(1400, 1425).map((b) => b.baseOffset))
        const bounded = await s.readBatches('big/0', 9990, { maxBytes: 1e9, toOffset: 9995 })
        expect(bounded.map((b) => b.baseOffset)).toEqual([9990])
        const tail = await s.readBatches('big/0', 9000, ALL)
        expect(tail).toHaveLength(200)
        expect(tail[199]!.lastOffset).toBe(N * 5 - 1)
        expect((await readAll('big/0'))).toHaveLength(N)

        // retention: drop "segments" of 100 batches from the start, one commit each
        for (let seg = 0; seg < 10; seg++) {
          await s.commit({
            deleteRanges: [{ stream: 'big/0', fromOffset: seg * 500, toOffset: (seg + 1) * 500 }],
            meta: [{ key: `seg/big/0/${String(seg * 500).padStart(16, '0')}`, value: undefined }],
          })
          const [first] = await s.readBatches('big/0', 0, { maxBytes: 1 })
          expect(first?.baseOffset).toBe((seg + 1) * 500)
        }
        expect(await s.readBatches('big/0', 4999, ALL)).toHaveLength(1000)
        expect(await readAll('big/1')).toHaveLength(10)
      })

      it('2,000 batches in one commit', async () => {
        const all = run(0, 2000, 1, 16)
        await s.commit({ batches: all.map((batch) => ({ stream: 'one/0', batch })) })
        const got = await s.readBatches('one/0', 1234, { maxBytes: 1e9, maxBatches: 3 })
        expect(got.map(plain)).toEqual(all.slice(1234, 1237).map(plain))
        expect(await readAll('one/0')).toHaveLength(2000)
      })

      it('many meta keys list in order', async () => {
        const keys = Array.from({ length: 500 }, (_, i) => `offset/g/t/${String((i * 7919) % 500).padStart(4, '0')}`)
        await s.commit({ meta: keys.map((key, i) => ({ key, value: { i } })) })
        await s.commit({ meta: [{ key: 'offset/g2/t/0000', value: 0 }, { key: 'offset/f/t/0000', value: 0 }] })
        const listed = await s.listMeta('offset/g/')
        expect(listed.map((e) => e.key)).toEqual([...keys].sort())
      })
    })

    describe('persistence across reopen', () => {
      it('everything committed is there after close and reopen', async (ctx) => {
        if (!fx.reopen) ctx.skip('no reopen for this adapter')
        const batches = [...run(0, 3, 10, 50), makeBatch(2 ** 33, 2 ** 33 + 4, 70)]
        await s.commit({
          batches: [...batches.map((batch) => ({ stream: 't/0', batch })), { stream: 't/10', batch: makeBatch(0, 0) }],
          meta: [
            { key: 'topic/t', value: { id: 'x', partitions: 11 } },
            { key: 'head/t/0', value: { next: 2 ** 33 + 5 } },
            { key: 'gone', value: 1 },
          ],
          durability: 'strict',
        })
        await s.commit({ meta: [{ key: 'gone', value: undefined }], deleteRanges: [{ stream: 't/0', fromOffset: 0, toOffset: 10 }] })
        await s.close()
        const r = await reopen()
        expect(await readAll('t/0', r)).toEqual(batches.slice(1).map(plain))
        expect(await readAll('t/10', r)).toEqual([plain(makeBatch(0, 0))])
        expect(await r.listMeta('')).toEqual([
          { key: 'head/t/0', value: { next: 2 ** 33 + 5 } },
          { key: 'topic/t', value: { id: 'x', partitions: 11 } },
        ])
        await r.commit({ batches: [{ stream: 't/0', batch: makeBatch(2 ** 33 + 5, 2 ** 33 + 5) }] })
        expect((await r.readBatches('t/0', 2 ** 33 + 5, ALL)).map((b) => b.baseOffset)).toEqual([2 ** 33 + 5])
      })

      it('two open instances see each other’s commits', async (ctx) => {
        if (!fx.reopen) ctx.skip('no reopen for this adapter')
        const r = await reopen()
        await s.commit({ batches: [{ stream: 't/0', batch: makeBatch(0, 0) }], meta: [{ key: 'k', value: 1 }] })
        expect(await readAll('t/0', r)).toEqual([plain(makeBatch(0, 0))])
        expect(await r.getMeta('k')).toBe(1)
        await r.commit({ meta: [{ key: 'k', value: 2 }] })
        expect(await s.getMeta('k')).toBe(2)
      })
    })

    describe('shared stores: lock and watch', () => {
      it('a shared adapter provides lock and watch', (ctx) => {
        if (!s.capabilities.shared) ctx.skip('not shared')
        expect(typeof s.lock).toBe('function')
        expect(typeof s.watch).toBe('function')
      })

      it('lock: one holder per name at a time, value and errors pass through', async (ctx) => {
        if (!s.lock) ctx.skip('no lock')
        const lock = s.lock!.bind(s)
        const events: string[] = []
        const hold = (id: string, ms: number) =>
          lock('head/t/0', async () => {
            events.push(`+${id}`)
            await new Promise((r) => setTimeout(r, ms))
            events.push(`-${id}`)
            return id
          })
        const results = await Promise.all([hold('a', 20), hold('b', 5), hold('c', 1)])
        expect(results).toEqual(['a', 'b', 'c'])
        for (let i = 0; i < events.length; i += 2) expect(events[i]!.slice(1)).toBe(events[i + 1]!.slice(1))

        await expect(lock('head/t/0', async () => { throw new Error('boom') })).rejects.toThrow('boom')
        expect(await lock('head/t/0', async () => 7)).toBe(7)

        // different names do not wait for each other
        let release!: () => void
        const held = lock('x', () => new Promise<void>((r) => { release = r }))
        expect(await lock('y', async () => 'free')).toBe('free')
        release()
        await held
      })

      it('lock: excludes holders in another instance', async (ctx) => {
        if (!s.lock || !fx.reopen) ctx.skip('no lock or no reopen')
        const r = await reopen()
        const events: string[] = []
        const hold = (storage: StorageAdapter, id: string, ms: number) =>
          storage.lock!('head/t/0', async () => {
            events.push(`+${id}`)
            await new Promise((res) => setTimeout(res, ms))
            events.push(`-${id}`)
          })
        await Promise.all([hold(s, 'a', 20), hold(r, 'b', 5), hold(s, 'c', 5), hold(r, 'd', 1)])
        expect(events).toHaveLength(8)
        for (let i = 0; i < events.length; i += 2) expect(events[i]!.slice(1)).toBe(events[i + 1]!.slice(1))
      })

      it('watch: reports another instance’s commits, stops when unsubscribed', async (ctx) => {
        if (!s.watch || !fx.reopen) ctx.skip('no watch or no reopen')
        const r = await reopen()
        const seen: StorageChange[] = []
        let wake: (() => void) | undefined
        const unsubscribe = s.watch!((change) => {
          seen.push(change)
          wake?.()
        })
        const waitFor = async (n: number) => {
          const deadline = Date.now() + 2000
          while (seen.length < n && Date.now() < deadline) await new Promise<void>((res) => { wake = res; setTimeout(res, 50) })
        }
        await r.commit({
          batches: [
            { stream: 't/0', batch: makeBatch(0, 9) },
            { stream: 't/0', batch: makeBatch(10, 14) },
            { stream: 't/1', batch: makeBatch(0, 0) },
          ],
          meta: [{ key: 'head/t/0', value: { next: 15 } }, { key: 'gone', value: undefined }],
        })
        await waitFor(4)
        const sorted = (xs: StorageChange[]) => [...xs].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
        expect(sorted(seen)).toEqual(
          sorted([
            { kind: 'append', stream: 't/0', nextOffset: 15 },
            { kind: 'append', stream: 't/1', nextOffset: 1 },
            { kind: 'meta', key: 'head/t/0' },
            { kind: 'meta', key: 'gone' },
          ]),
        )
        unsubscribe()
        seen.length = 0
        await r.commit({ meta: [{ key: 'later', value: 1 }] })
        await new Promise((res) => setTimeout(res, 100))
        expect(seen).toEqual([])
      })
    })
  })
}
