/**
 * The pieces under KIP-101: truncating a log's tail (core/log/truncate.ts through
 * PartitionLog.truncateTo) keeps head, segments, batches and producer state agreeing; the
 * leader-epoch cache answers OffsetsForLeaderEpoch as Kafka's does.
 */
import { describe, expect, it } from 'vitest'
import { LeaderEpochCache } from '../../core/replication/epoch-cache.ts'
import type { ProducerEntry } from '../../core/log/producer-state.ts'
import { readStream } from '../chaos/log-invariants.ts'
import { batchOf, openPartition, readAll } from '../core/helpers.ts'

describe('PartitionLog.truncateTo', () => {
  it('drops the batches at and past the offset, whole; segments past it go, the one cut into shrinks', async () => {
    // Small segments: each holds about two batches.
    const { log, storage } = await openPartition({ 'segment.bytes': 200 })
    for (let i = 0; i < 8; i++) await log.append(batchOf([`v${i}a`, `v${i}b`]))
    expect(log.state().segments.length).toBeGreaterThan(2)
    // Offset 7 is inside the batch 6..7: that batch goes whole.
    const result = await log.truncateTo(7, [{ key: 'replication/t1/0', value: { epochs: [], highWatermark: 6 } }])
    expect(result).toEqual({ nextOffset: 6, removedOffsets: 10 })
    expect(log.highWatermark).toBe(6)
    expect((await readAll(log)).map((r) => r.value)).toEqual(['v0a', 'v0b', 'v1a', 'v1b', 'v2a', 'v2b'])
    expect((await readStream(storage, 't1/0')).problems).toEqual([])
    expect(await storage.getMeta('replication/t1/0')).toEqual({ epochs: [], highWatermark: 6 })
    // The log goes on from the cut.
    const next = await log.append(batchOf(['after']))
    expect(next.baseOffset).toBe(6)
    expect((await readStream(storage, 't1/0')).problems).toEqual([])
  })

  it('changes nothing at or past the log end, and can empty the log', async () => {
    const { log, storage } = await openPartition()
    await log.append(batchOf(['a', 'b']))
    expect(await log.truncateTo(5)).toEqual({ nextOffset: 2, removedOffsets: 0 })
    expect(await log.truncateTo(0)).toEqual({ nextOffset: 0, removedOffsets: 2 })
    expect(log.state().segments).toEqual([])
    expect((await readStream(storage, 't1/0')).problems).toEqual([])
    expect((await log.append(batchOf(['c']))).baseOffset).toBe(0)
  })

  it('forgets the idempotent batches it removed: a retry of one is stored again, not answered as a duplicate', async () => {
    const { log, storage } = await openPartition()
    // A fixed timestamp: a retry carries the same bytes (the log compares CRCs).
    const producer = { producerId: 7, producerEpoch: 0, timestamp: 1_700_000_000_000 }
    await log.append(batchOf(['s0'], { ...producer, baseSequence: 0 }))
    await log.append(batchOf(['s1'], { ...producer, baseSequence: 1 }))
    await log.truncateTo(1)
    const entry = await storage.getMeta<ProducerEntry>('pid/t1/0/7')
    expect(entry?.batches.map((b) => b.firstSeq)).toEqual([0])
    const retried = await log.append(batchOf(['s1'], { ...producer, baseSequence: 1 }))
    expect(retried).toMatchObject({ baseOffset: 1, duplicate: false })
    const again = await log.append(batchOf(['s1'], { ...producer, baseSequence: 1 }))
    expect(again).toMatchObject({ baseOffset: 1, duplicate: true })
  })
})

describe('LeaderEpochCache', () => {
  const cache = new LeaderEpochCache().assign(0, 0).assign(2, 10).assign(5, 30)

  it('answers where an epoch ends: the next epoch\'s start, or the log end for the latest', () => {
    expect(cache.endOffsetFor(0, 50)).toEqual({ epoch: 0, endOffset: 10 })
    expect(cache.endOffsetFor(2, 50)).toEqual({ epoch: 2, endOffset: 30 })
    expect(cache.endOffsetFor(5, 50)).toEqual({ epoch: 5, endOffset: 50 })
    // An epoch it never had: the largest below it (KIP-279).
    expect(cache.endOffsetFor(3, 50)).toEqual({ epoch: 2, endOffset: 30 })
    expect(cache.endOffsetFor(9, 50)).toEqual({ epoch: 5, endOffset: 50 })
    expect(new LeaderEpochCache().assign(4, 12).endOffsetFor(1, 20)).toEqual({ epoch: -1, endOffset: 12 })
  })

  it('ignores older epochs, replaces entries at or past a new start, and truncates from the end', () => {
    expect(cache.assign(4, 40).entries).toEqual(cache.entries)
    expect(cache.assign(6, 10).entries).toEqual([{ epoch: 0, startOffset: 0 }, { epoch: 6, startOffset: 10 }])
    expect(cache.truncateFromEnd(30).entries).toEqual([{ epoch: 0, startOffset: 0 }, { epoch: 2, startOffset: 10 }])
    expect(cache.startOffsetOf(2)).toBe(10)
  })
})
