/** PartitionLog over a store that fails mid-way: its view of the partition never gets ahead of storage's. */
import { describe, expect, it } from 'vitest'
import { EdgelogError } from '../../core/errors.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import type { SegmentInfo } from '../../core/broker.ts'
import { batchOf, openPartition } from './helpers.ts'

describe('a commit that applied but failed, then a reload that failed', () => {
  it('leaves segment records that agree with the stored batches', async () => {
    const storage = new MemoryStorage()
    const { log } = await openPartition({ 'segment.bytes': 1 << 20 }, { storage })
    await log.append(batchOf(['a']))
    const commit = storage.commit.bind(storage)
    const listMeta = storage.listMeta.bind(storage)
    // The next commit applies, then throws (the answer is lost); the reload after it cannot list segments.
    storage.commit = async (write) => { await commit(write); storage.commit = commit; throw new EdgelogError('STORAGE_ERROR', 'applied, then failed') }
    storage.listMeta = async (prefix) => { storage.listMeta = listMeta; throw new EdgelogError('STORAGE_ERROR', `listing ${prefix} failed`) }
    await expect(log.append(batchOf(['b']))).rejects.toMatchObject({ code: 'STORAGE_ERROR' })
    await log.append(batchOf(['c']))
    const [segment] = (await storage.listMeta<SegmentInfo>('seg/t1/0/')).map((e) => e.value)
    const stored = await storage.readBatches('t1/0', 0, { maxBytes: 1 << 20 })
    expect({ batches: segment.batches, bytes: segment.sizeBytes, end: segment.endOffset })
      .toEqual({ batches: stored.length, bytes: stored.reduce((n, b) => n + b.bytes.byteLength, 0), end: 3 })
  })
})
