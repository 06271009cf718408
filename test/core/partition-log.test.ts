import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { PartitionLog } from '../../core/log/partition-log.ts'
import { encodeBatch } from '../../core/codec/record-batch.ts'
import { batchOf, clock, openPartition, readAll, records } from './helpers.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { TOPIC_CONFIG_DEFAULTS, type TopicConfig } from '../../core/config.ts'

describe('offsets', () => {
  it('are assigned by the log: 0, 1, 2, … contiguous across batches, whatever the producer wrote', async () => {
    const { log } = await openPartition()
    const first = await log.append(encodeBatch(records(['a', 'b', 'c']), { baseOffset: 999 }))
    const second = await log.append(batchOf(['d', 'e']))
    expect(first.baseOffset).toBe(0)
    expect(second.baseOffset).toBe(3)
    expect(log.highWatermark).toBe(5)
    expect((await readAll(log)).map((r) => [r.offset, r.value])).toEqual([[0, 'a'], [1, 'b'], [2, 'c'], [3, 'd'], [4, 'e']])
  })

  it('a read from inside a batch starts with the batch holding that offset', async () => {
    const { log } = await openPartition()
    await log.append(batchOf(['a', 'b', 'c']))
    await log.append(batchOf(['d', 'e']))
    const { batches, highWatermark } = await log.read(4, 1)
    expect(batches.map((b) => [b.baseOffset, b.lastOffset])).toEqual([[3, 4]])
    expect(highWatermark).toBe(5)
    expect((await readAll(log, 1)).map((r) => r.offset)).toEqual([1, 2, 3, 4])
  })

  it('reading at the high watermark returns nothing; past either end is OFFSET_OUT_OF_RANGE', async () => {
    const { log } = await openPartition()
    await log.append(batchOf(['a']))
    expect((await log.read(1, 100)).batches).toEqual([])
    await expect(log.read(2, 100)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
    await expect(log.read(-1, 100)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
  })

  it('survive a reopen over the same storage', async () => {
    const { log, storage, current } = await openPartition()
    await log.append(batchOf(['a', 'b']))
    const again = await PartitionLog.open({ storage, stream: 't1/0', config: () => current.config })
    expect(again.highWatermark).toBe(2)
    expect((await again.append(batchOf(['c']))).baseOffset).toBe(2)
  })
})

describe('bad batches change nothing', () => {
  it('a flipped byte is CORRUPT_MESSAGE', async () => {
    const { log } = await openPartition()
    await log.append(batchOf(['ok']))
    const bad = batchOf(['x', 'y'])
    bad[bad.length - 2] ^= 0xff
    await expect(log.append(bad)).rejects.toMatchObject({ code: 'CORRUPT_MESSAGE' })
    expect(log.highWatermark).toBe(1)
    expect((await readAll(log)).map((r) => r.value)).toEqual(['ok'])
  })

  it('a truncated batch is CORRUPT_MESSAGE', async () => {
    const { log } = await openPartition()
    const bytes = batchOf(['x', 'y'])
    await expect(log.append(bytes.subarray(0, bytes.length - 3))).rejects.toMatchObject({ code: 'CORRUPT_MESSAGE' })
    expect(log.highWatermark).toBe(0)
  })

  it('a batch over max.message.bytes is MESSAGE_TOO_LARGE', async () => {
    const { log } = await openPartition({ 'max.message.bytes': 200 })
    await expect(log.append(batchOf(['x'.repeat(300)]))).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' })
    expect(log.highWatermark).toBe(0)
  })

  it('offset deltas that are not 0..n-1 are INVALID_RECORD', async () => {
    const { log } = await openPartition()
    const gappy = encodeBatch(records(['a', 'b']).map((r, i) => ({ ...r, offsetDelta: i * 2 })))
    await expect(log.append(gappy)).rejects.toMatchObject({ code: 'INVALID_RECORD' })
    expect(log.highWatermark).toBe(0)
  })

  it('a keyless record on a compacted topic is INVALID_RECORD', async () => {
    const { log } = await openPartition({ 'cleanup.policy': 'compact' })
    await expect(log.append(batchOf(['v']))).rejects.toMatchObject({ code: 'INVALID_RECORD' })
  })
})

describe('idempotent producer', () => {
  const pid = { producerId: 7, producerEpoch: 0 }

  it('a retried batch is stored once and answered with its first offset', async () => {
    const { log } = await openPartition()
    const batch = batchOf(['a', 'b'], { ...pid, baseSequence: 0 })
    const first = await log.append(batch)
    const retry = await log.append(batch)
    expect(retry).toMatchObject({ baseOffset: first.baseOffset, duplicate: true })
    await log.append(batchOf(['c'], { ...pid, baseSequence: 2 }))
    expect((await readAll(log)).map((r) => r.value)).toEqual(['a', 'b', 'c'])
  })

  it('a gap in sequences is OUT_OF_ORDER_SEQUENCE_NUMBER and stores nothing', async () => {
    const { log } = await openPartition()
    await log.append(batchOf(['a'], { ...pid, baseSequence: 0 }))
    await expect(log.append(batchOf(['c'], { ...pid, baseSequence: 5 }))).rejects.toMatchObject({ code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' })
    expect(log.highWatermark).toBe(1)
  })

  it('an older epoch is fenced with INVALID_PRODUCER_EPOCH', async () => {
    const { log } = await openPartition()
    await log.append(batchOf(['a'], { producerId: 7, producerEpoch: 2, baseSequence: 0 }))
    await expect(log.append(batchOf(['b'], { producerId: 7, producerEpoch: 1, baseSequence: 1 }))).rejects.toMatchObject({ code: 'INVALID_PRODUCER_EPOCH' })
    expect(log.highWatermark).toBe(1)
  })

  it('producer state survives a reopen, so a retry after a restart is still recognised', async () => {
    const { log, storage, current } = await openPartition()
    const batch = batchOf(['a'], { ...pid, baseSequence: 0 })
    await log.append(batch)
    const again = await PartitionLog.open({ storage, stream: 't1/0', config: () => current.config })
    expect(await again.append(batch)).toMatchObject({ baseOffset: 0, duplicate: true })
    expect(again.highWatermark).toBe(1)
  })
})

describe('segments', () => {
  it('roll when segment.bytes would be exceeded', async () => {
    const { log } = await openPartition({ 'segment.bytes': 300 })
    for (let i = 0; i < 6; i++) await log.append(batchOf(['x'.repeat(100)]))
    const segments = log.state().segments
    expect(segments.length).toBeGreaterThan(2)
    expect(segments.every((s) => s.sizeBytes <= 300)).toBe(true)
    expect(segments[0].baseOffset).toBe(0)
    for (let i = 1; i < segments.length; i++) expect(segments[i].baseOffset).toBe(segments[i - 1].endOffset)
  })

  it('segmentOf finds the segment holding an offset, as a scan of state() does', async () => {
    const { log } = await openPartition({ 'segment.bytes': 300, 'retention.bytes': 900 })
    for (let i = 0; i < 12; i++) await log.append(batchOf(['x'.repeat(100)]))
    await log.maintain() // the oldest segments go: the first no longer starts at 0
    const segments = log.state().segments
    expect(segments[0].baseOffset).toBeGreaterThan(0)
    for (let offset = -1; offset <= log.highWatermark + 1; offset++) {
      const at = segments.findIndex((s) => s.baseOffset <= offset && offset < s.endOffset)
      const found = log.segmentOf(offset)
      expect(found === undefined ? -1 : segments.findIndex((s) => s.baseOffset === found.segment.baseOffset)).toBe(at)
      if (found) expect(found.active).toBe(at === segments.length - 1)
    }
  })

  it('roll when segment.ms has passed', async () => {
    const time = clock()
    const { log } = await openPartition({ 'segment.ms': 1000 }, { now: time.now })
    await log.append(batchOf(['a']))
    time.advance(500)
    await log.append(batchOf(['b']))
    time.advance(600)
    await log.append(batchOf(['c']))
    expect(log.state().segments.map((s) => [s.baseOffset, s.endOffset])).toEqual([[0, 2], [2, 3]])
  })
})

describe('retention deletes whole segments only', () => {
  it('by time: segments whose newest record is older than retention.ms, never one with a record inside it', async () => {
    const time = clock()
    const { log } = await openPartition({ 'segment.bytes': 200, 'retention.ms': 10_000 }, { now: time.now })
    for (let i = 0; i < 3; i++) await log.append(batchOf(['x'.repeat(120)], { timestamp: time.now() }))
    time.advance(8_000)
    for (let i = 0; i < 3; i++) await log.append(batchOf(['y'.repeat(120)], { timestamp: time.now() }))
    time.advance(5_000) // the first three are 13 s old, the last three 5 s
    const { deletedSegments } = await log.maintain()
    expect(deletedSegments).toBe(3)
    expect(log.logStartOffset).toBe(3)
    expect((await readAll(log)).map((r) => r.offset)).toEqual([3, 4, 5])
    await expect(log.read(2, 100)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
    // Offsets go on from where they were.
    expect((await log.append(batchOf(['z']))).baseOffset).toBe(6)
  })

  it('by size: the oldest segments go while the rest still reaches retention.bytes', async () => {
    const { log } = await openPartition({ 'segment.bytes': 200, 'retention.bytes': 400 })
    for (let i = 0; i < 6; i++) await log.append(batchOf(['x'.repeat(120)]))
    const before = log.state()
    await log.maintain()
    const after = log.state()
    expect(after.sizeBytes).toBeGreaterThanOrEqual(400)
    expect(after.sizeBytes - after.segments[0].sizeBytes).toBeLessThan(400)
    expect(after.logStartOffset).toBeGreaterThan(0)
    expect(after.highWatermark).toBe(before.highWatermark)
  })

  it('the active segment is rolled and removed once everything in it expired', async () => {
    const time = clock()
    const { log } = await openPartition({ 'retention.ms': 1000 }, { now: time.now })
    await log.append(batchOf(['a', 'b'], { timestamp: time.now() }))
    time.advance(2000)
    await log.maintain()
    expect(log.logStartOffset).toBe(2)
    expect(log.highWatermark).toBe(2)
    expect((await log.append(batchOf(['c']))).baseOffset).toBe(2)
  })
})

describe('compaction', () => {
  it('keeps the latest record per key at its original offset', async () => {
    const time = clock()
    const { log } = await openPartition({ 'cleanup.policy': 'compact', 'segment.bytes': 150 }, { now: time.now })
    const keys = ['k1', 'k2', 'k1', 'k3', 'k2', 'k1']
    for (let i = 0; i < keys.length; i++) await log.append(batchOf([`v${i}`], { keys: [keys[i]], timestamp: time.now() }))
    await log.append(batchOf(['active'], { keys: ['k9'], timestamp: time.now() })) // the active segment is never cleaned
    time.advance(1)
    const { compactedSegments } = await log.maintain({ forceCompaction: true })
    expect(compactedSegments).toBeGreaterThan(0)
    expect((await readAll(log)).map((r) => [r.offset, r.key, r.value])).toEqual([[3, 'k3', 'v3'], [4, 'k2', 'v4'], [5, 'k1', 'v5'], [6, 'k9', 'active']])
  })

  it('removes a key whose latest record is a tombstone, once delete.retention.ms has passed', async () => {
    const time = clock()
    const { log } = await openPartition({ 'cleanup.policy': 'compact', 'segment.bytes': 100, 'delete.retention.ms': 1000 }, { now: time.now })
    await log.append(batchOf(['v0'], { keys: ['a'], timestamp: time.now() }))
    await log.append(batchOf(['v1'], { keys: ['b'], timestamp: time.now() }))
    await log.append(batchOf([null], { keys: ['a'], timestamp: time.now() }))
    await log.append(batchOf(['x'], { keys: ['z'], timestamp: time.now() }))
    await log.maintain({ forceCompaction: true })
    expect((await readAll(log)).map((r) => [r.key, r.value])).toEqual([['b', 'v1'], ['a', null], ['z', 'x']])
    time.advance(2000)
    await log.append(batchOf(['y'], { keys: ['z2'], timestamp: time.now() }))
    await log.maintain({ forceCompaction: true })
    expect((await readAll(log)).map((r) => r.key)).toEqual(['b', 'z', 'z2'])
  })

  it('leaves records inside min.compaction.lag.ms alone', async () => {
    const time = clock()
    const { log } = await openPartition({ 'cleanup.policy': 'compact', 'segment.bytes': 150, 'min.compaction.lag.ms': 60_000 }, { now: time.now })
    for (const v of ['1', '2', '3']) await log.append(batchOf([v], { keys: ['k'], timestamp: time.now() }))
    await log.maintain({ forceCompaction: true })
    expect((await readAll(log)).map((r) => r.value)).toEqual(['1', '2', '3'])
  })
})

describe('offsets by time (ListOffsets)', () => {
  it('finds the first offset whose timestamp is at or after the one asked for', async () => {
    const { log } = await openPartition({ 'segment.bytes': 150 })
    for (let i = 0; i < 5; i++) await log.append(batchOf([`v${i}`], { timestamp: 1000 + i * 100 }))
    expect(await log.offsetForTime({ timestamp: 1250 })).toEqual({ offset: 3, timestamp: 1300 })
    expect(await log.offsetForTime({ timestamp: 0 })).toEqual({ offset: 0, timestamp: 1000 })
    expect((await log.offsetForTime({ timestamp: 9999 })).offset).toBe(-1)
    expect((await log.offsetForTime('earliest')).offset).toBe(0)
    expect((await log.offsetForTime('latest')).offset).toBe(5)
  })
})

describe('long polling', () => {
  it('a reader waiting at the end wakes when a record arrives, not when its time is up', async () => {
    const { log } = await openPartition()
    const started = Date.now()
    const waiting = log.waitForData(0, 10_000)
    setTimeout(() => void log.append(batchOf(['late'])), 20)
    await waiting
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(log.highWatermark).toBe(1)
  })

  it('gives up after maxWaitMs with nothing new', async () => {
    const { log } = await openPartition()
    await log.waitForData(0, 30)
    expect(log.highWatermark).toBe(0)
  })
})

describe('invariants (property)', () => {
  it('offsets stay contiguous, order holds, nothing acknowledged is lost', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 25 }),
      fc.integer({ min: 100, max: 2000 }),
      async (batches, segmentBytes) => {
        const { log } = await openPartition({ 'segment.bytes': segmentBytes })
        const acked: string[] = []
        for (const values of batches) {
          const { baseOffset } = await log.append(batchOf(values))
          expect(baseOffset).toBe(acked.length)
          acked.push(...values)
        }
        const read = await readAll(log)
        expect(read.map((r) => r.offset)).toEqual(acked.map((_, i) => i))
        expect(read.map((r) => r.value)).toEqual(acked)
      },
    ), { numRuns: 60 })
  })

  it('retention never removes a record inside the limits, and keeps the rest readable at their offsets', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 1_000, max: 20_000 }),
      async (gaps, retentionMs) => {
        const time = clock()
        const { log } = await openPartition({ 'segment.bytes': 200, 'retention.ms': retentionMs }, { now: time.now })
        const stamps: number[] = []
        for (const gap of gaps) {
          time.advance(gap)
          stamps.push(time.now())
          await log.append(batchOf(['x'.repeat(80)], { timestamp: time.now() }))
        }
        await log.maintain()
        const read = await readAll(log)
        const kept = new Set(read.map((r) => r.offset))
        stamps.forEach((ts, offset) => {
          if (time.now() - ts <= retentionMs) expect(kept.has(offset), `offset ${offset} is inside retention`).toBe(true)
        })
        expect(read.map((r) => r.offset)).toEqual(stamps.map((_, i) => i).filter((i) => i >= log.logStartOffset))
      },
    ), { numRuns: 60 })
  })
})

describe('compaction (property)', () => {
  it('keeps exactly the latest record of every key at its offset, and nothing else from the cleaned segments', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), tombstone: fc.boolean() }), { minLength: 2, maxLength: 40 }),
      fc.integer({ min: 80, max: 400 }),
      async (writes, segmentBytes) => {
        const time = clock()
        const { log } = await openPartition({ 'cleanup.policy': 'compact', 'segment.bytes': segmentBytes, 'delete.retention.ms': 1_000_000 }, { now: time.now })
        for (const [i, w] of writes.entries()) {
          await log.append(batchOf([w.tombstone ? null : `v${i}`], { keys: [w.key], timestamp: time.now() }))
        }
        const segments = log.state().segments
        const activeBase = segments[segments.length - 1].baseOffset
        await log.maintain({ forceCompaction: true })
        const after = await readAll(log)
        const latest = new Map<string, number>()
        writes.forEach((w, offset) => { if (offset < activeBase) latest.set(w.key, offset) })
        for (const r of after) {
          expect(r.value).toBe(writes[r.offset].tombstone ? null : `v${r.offset}`)
          if (r.offset < activeBase) expect(latest.get(r.key!)).toBe(r.offset)
        }
        // Every latest record of the cleaned part is still there, tombstones included (inside delete.retention.ms).
        const kept = new Set(after.map((r) => r.offset))
        for (const offset of latest.values()) expect(kept.has(offset)).toBe(true)
        // The active segment is untouched and offsets go on.
        expect(after.filter((r) => r.offset >= activeBase).map((r) => r.offset)).toEqual(writes.map((_, i) => i).filter((i) => i >= activeBase))
        expect(log.highWatermark).toBe(writes.length)
      },
    ), { numRuns: 60 })
  })
})

/**
 * A store shared by several contexts (browser tabs), simulated: one MemoryStorage seen by
 * several logs and brokers, declared `shared` and without a change feed (the worst case: no
 * context ever hears of the others' writes, only the commit preconditions protect them).
 */
class SharedMemoryStorage extends MemoryStorage {
  override readonly capabilities = { shared: true }
  commits = 0
  conflicts = 0
  override async commit(write: Parameters<MemoryStorage['commit']>[0]): Promise<void> {
    this.commits++
    try {
      await super.commit(write)
    } catch (error) {
      if ((error as { code?: string }).code === 'STORAGE_CONFLICT') this.conflicts++
      throw error
    }
  }
  async lock<T>(_name: string, fn: () => Promise<T>): Promise<T> { return fn() }
  watch(): () => void { return () => {} }
}

describe('shared stores: optimistic appends from several contexts', () => {
  const open = (storage: MemoryStorage, config: Partial<TopicConfig> = {}) =>
    PartitionLog.open({ storage, stream: 't1/0', config: () => ({ ...TOPIC_CONFIG_DEFAULTS, ...config }) })

  it('two logs appending to one partition at once get contiguous unique offsets, nothing lost', async () => {
    const storage = new SharedMemoryStorage()
    const [a, b] = [await open(storage, { 'segment.bytes': 2000 }), await open(storage, { 'segment.bytes': 2000 })]
    const appends: Array<Promise<{ baseOffset: number }>> = []
    for (let i = 0; i < 40; i++) {
      appends.push(a.append(batchOf([`a${i}`, `a${i}'`])))
      appends.push(b.append(batchOf([`b${i}`])))
    }
    const results = await Promise.all(appends)
    const offsets = results.map((r) => r.baseOffset).sort((x, y) => x - y)
    expect(new Set(offsets).size).toBe(80)
    expect(storage.conflicts).toBeGreaterThan(0)
    const fresh = await open(storage)
    expect(fresh.highWatermark).toBe(120)
    const all = await readAll(fresh)
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 120 }, (_, i) => i))
    expect(all.filter((r) => r.value!.startsWith('a')).map((r) => r.value)).toEqual(Array.from({ length: 40 }, (_, i) => [`a${i}`, `a${i}'`]).flat())
    expect(all.filter((r) => r.value!.startsWith('b')).map((r) => r.value)).toEqual(Array.from({ length: 40 }, (_, i) => `b${i}`))
    // segments account for every batch, whoever wrote it
    const state = fresh.state()
    expect(state.segments.length).toBeGreaterThan(1)
    expect(state.segments.reduce((n, s) => n + s.batches, 0)).toBe(80)
    for (let i = 1; i < state.segments.length; i++) expect(state.segments[i]!.baseOffset).toBe(state.segments[i - 1]!.endOffset)
  })

  it('an append takes one commit and no read when no other context wrote', async () => {
    const storage = new SharedMemoryStorage()
    const log = await open(storage)
    const getMeta = storage.getMeta.bind(storage)
    let reads = 0
    storage.getMeta = async (key) => { reads++; return getMeta(key) }
    await log.append(batchOf(['x']))
    await log.append(batchOf(['y']))
    expect(storage.commits).toBe(2)
    expect(reads).toBe(0)
  })

  it('a retried idempotent batch that another context stored is a duplicate after the conflict', async () => {
    const storage = new SharedMemoryStorage()
    const [a, b] = [await open(storage), await open(storage)]
    const pid = { producerId: 3, producerEpoch: 0 }
    await b.append(batchOf(['other']))
    // A retry sends the same bytes again.
    const p0 = batchOf(['p0'], { ...pid, baseSequence: 0 })
    const first = await a.append(p0.slice())
    // b still believes the head it wrote: its commit conflicts, it reloads, and sees the sequence
    const retried = await b.append(p0.slice())
    expect(retried).toMatchObject({ baseOffset: first.baseOffset, duplicate: true })
    await expect(b.append(batchOf(['p2'], { ...pid, baseSequence: 2 }))).rejects.toMatchObject({ code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' })
    expect((await b.append(batchOf(['p1'], { ...pid, baseSequence: 1 }))).baseOffset).toBe(2)
    expect((await readAll(await open(storage))).map((r) => r.value)).toEqual(['other', 'p0', 'p1'])
  })

  it('retention in one context does not lose another context’s concurrent appends', async () => {
    const storage = new SharedMemoryStorage()
    const t = clock()
    const config = { 'segment.bytes': 200, 'retention.bytes': 400 }
    const a = await PartitionLog.open({ storage, stream: 't1/0', config: () => ({ ...TOPIC_CONFIG_DEFAULTS, ...config }), now: t.now })
    const b = await PartitionLog.open({ storage, stream: 't1/0', config: () => ({ ...TOPIC_CONFIG_DEFAULTS, ...config }), now: t.now })
    for (let i = 0; i < 10; i++) await a.append(batchOf([`a${i}`.padEnd(60, '.')]))
    const racing: Array<Promise<unknown>> = []
    for (let i = 0; i < 10; i++) racing.push(b.append(batchOf([`b${i}`.padEnd(60, '.')])))
    racing.push(a.maintain())
    await Promise.all(racing)
    const fresh = await open(storage)
    expect(fresh.highWatermark).toBe(20)
    expect(fresh.logStartOffset).toBeGreaterThan(0)
    const all = await readAll(fresh)
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 20 - fresh.logStartOffset }, (_, i) => fresh.logStartOffset + i))
    expect(all.slice(-10).map((r) => r.value!.slice(0, 2))).toEqual(Array.from({ length: 10 }, (_, i) => `b${i}`))
  })
})

describe('shared stores: a deleted topic is never written to', () => {
  const settings = { 'log.retention.check.interval.ms': 0 }
  const produce = (broker: LocalBroker, value: string) =>
    broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch: batchOf([value]) }] }).then(([r]) => r!)

  async function streamsOf(storage: MemoryStorage, topicId: string): Promise<number> {
    return (await storage.readBatches(`${topicId}/0`, 0, { maxBytes: 1e9 })).length
  }

  for (const appendedBefore of [true, false]) {
    it(`a context with a stale topic cache gets UNKNOWN_TOPIC_OR_PARTITION (${appendedBefore ? 'after appending' : 'before any append'})`, async () => {
      const storage = new SharedMemoryStorage()
      const tabA = new LocalBroker({ storage, settings: { ...settings, 'auto.create.topics.enable': false } })
      const tabB = new LocalBroker({ storage, settings })
      await tabA.createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
      const [old] = await tabA.metadata({ topics: ['t'] })
      if (appendedBefore) expect((await produce(tabA, 'before')).errorCode).toBe(0)
      else await tabA.describePartitions({ topic: 't' }) // the partition log is open, its head absent
      await tabB.deleteTopics({ topics: ['t'] })
      // tab A never heard of it (no change feed here): its cache still has the old topic
      const refused = await produce(tabA, 'after delete')
      expect(refused.error?.code).toBe('UNKNOWN_TOPIC_OR_PARTITION')
      expect(await streamsOf(storage, old!.topicId)).toBe(0)
      expect(await storage.getMeta(`head/${old!.topicId}/0`)).toBeUndefined()
      // created again (a new topic id): tab A's stale write still must not land in either stream
      await tabB.createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
      const [now] = await tabB.metadata({ topics: ['t'] })
      const ok = await produce(tabA, 'new topic')
      expect(ok).toMatchObject({ errorCode: 0, baseOffset: 0 })
      expect(await streamsOf(storage, old!.topicId)).toBe(0)
      expect(await streamsOf(storage, now!.topicId)).toBe(1)
      await tabA.close()
    })
  }

  it('a stale cache across delete and re-create: the write goes nowhere, then to the new topic', async () => {
    const storage = new SharedMemoryStorage()
    const tabA = new LocalBroker({ storage, settings })
    const tabB = new LocalBroker({ storage, settings })
    await tabA.createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
    const [old] = await tabA.metadata({ topics: ['t'] })
    expect((await produce(tabA, 'one')).errorCode).toBe(0)
    await tabB.deleteTopics({ topics: ['t'] })
    await tabB.createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
    const [fresh] = await tabB.metadata({ topics: ['t'] })
    const refused = await produce(tabA, 'stale')
    expect(refused.error?.code).toBe('UNKNOWN_TOPIC_OR_PARTITION')
    expect(await streamsOf(storage, old!.topicId)).toBe(0)
    expect(await streamsOf(storage, fresh!.topicId)).toBe(0)
    expect(await produce(tabA, 'retried')).toMatchObject({ errorCode: 0, baseOffset: 0 })
    const fetched = await tabB.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1e6 })
    expect(fetched.batches).toHaveLength(1)
  })

  it('topic changes from a stale cache do not overwrite another context’s', async () => {
    const storage = new SharedMemoryStorage()
    const tabA = new LocalBroker({ storage, settings })
    const tabB = new LocalBroker({ storage, settings })
    await tabA.createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
    await tabA.metadata({ topics: ['t'] })
    await tabB.createPartitions({ topicPartitions: [{ topic: 't', count: 3 }] })
    // A's cache says 1 partition; its config change must keep B's 3 partitions
    await tabA.alterConfigs({ topic: 't', configEntries: [{ name: 'retention.ms', value: '1000' }] })
    const stored = await storage.getMeta<{ partitions: number; config: TopicConfig }>('topic/t')
    expect(stored!.partitions).toBe(3)
    expect(stored!.config['retention.ms']).toBe(1000)
    // and creating a topic another context created meanwhile does not replace it
    await tabB.createTopics({ topics: [{ topic: 'u', numPartitions: 2 }] })
    expect(await tabA.createTopics({ topics: [{ topic: 'u', numPartitions: 5 }] })).toEqual([{ topic: 'u', created: false }])
    expect((await tabA.metadata({ topics: ['u'] }))[0]!.partitions).toHaveLength(2)
  })
})

describe('group commit', () => {
  it('batches that arrive together are committed as one write, in arrival order, each with its own offsets', async () => {
    const { log, storage } = await openPartition()
    let commits = 0
    const commit = storage.commit.bind(storage)
    storage.commit = (write) => { commits++; return commit(write) }
    const results = await Promise.all(['a', 'b', 'c', 'd'].map((v) => log.append(batchOf([v, v]))))
    expect(results.map((r) => r.baseOffset)).toEqual([0, 2, 4, 6])
    expect(commits).toBe(1)
    expect((await readAll(log)).map((r) => r.value)).toEqual(['a', 'a', 'b', 'b', 'c', 'c', 'd', 'd'])
  })

  it('a bad batch in the group is refused alone; the others are stored', async () => {
    const { log } = await openPartition()
    const bad = batchOf(['x'])
    bad[bad.length - 1] ^= 0xff
    const settled = await Promise.allSettled([log.append(batchOf(['a'])), log.append(bad), log.append(batchOf(['b']))])
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'CORRUPT_MESSAGE' })
    expect((await readAll(log)).map((r) => [r.offset, r.value])).toEqual([[0, 'a'], [1, 'b']])
  })

  it('an idempotent producer\'s batches in one group keep their sequence order; a retry of the group stores nothing twice', async () => {
    const { log } = await openPartition()
    const pid = { producerId: 3, producerEpoch: 0 }
    const batches = [0, 2, 4].map((seq, i) => batchOf([`v${i}`, `w${i}`], { ...pid, baseSequence: seq }))
    const first = await Promise.all(batches.map((b) => log.append(b)))
    const again = await Promise.all(batches.map((b) => log.append(b)))
    expect(again.map((r) => r.baseOffset)).toEqual(first.map((r) => r.baseOffset))
    expect(again.every((r) => r.duplicate)).toBe(true)
    expect(log.highWatermark).toBe(6)
  })
})

describe('closing a partition log (its topic deleted)', () => {
  it('settles every waiting append with UNKNOWN_TOPIC_OR_PARTITION, and refuses later ones, never hangs', async () => {
    const { log } = await openPartition()
    const first = log.append(batchOf(['a']))
    const waiting = log.append(batchOf(['b']))
    log.close()
    const settled = await Promise.allSettled([first, waiting, log.append(batchOf(['c']))])
    for (const s of settled.slice(1)) expect(s).toMatchObject({ status: 'rejected', reason: { code: 'UNKNOWN_TOPIC_OR_PARTITION' } })
  })
})

describe('producer state expiry (producer.id.expiration.ms)', () => {
  it('maintenance drops the state of producers idle past the limit, and keeps active ones', async () => {
    const time = clock()
    const storage = new MemoryStorage()
    const current = { ...TOPIC_CONFIG_DEFAULTS }
    const log = await PartitionLog.open({ storage, stream: 't1/0', config: () => current, now: time.now, producerIdExpirationMs: 10_000 })
    await log.append(batchOf(['a'], { producerId: 1, producerEpoch: 0, baseSequence: 0 }))
    time.advance(8_000)
    await log.append(batchOf(['b'], { producerId: 2, producerEpoch: 0, baseSequence: 0 }))
    time.advance(5_000)
    await log.maintain()
    expect((await storage.listMeta('pid/t1/0/')).map((e) => e.key)).toEqual(['pid/t1/0/2'])
    // An expired producer that comes back mid-sequence is told so (Kafka's UNKNOWN_PRODUCER_ID).
    await expect(log.append(batchOf(['c'], { producerId: 1, producerEpoch: 0, baseSequence: 1 }))).rejects.toMatchObject({ code: 'UNKNOWN_PRODUCER_ID' })
  })
})
