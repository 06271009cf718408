import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import type { StorageAdapter } from '../../core/storage.ts'
import { describeStorageConformance, makeBatch } from '../conformance/storage-suite.ts'

describeStorageConformance('MemoryStorage', async () => {
  const storage = new MemoryStorage()
  return { storage, teardown: () => storage.close() }
})

describe('MemoryStorage specifics', () => {
  it('is not shared, has no lock or watch, and reads are zero-copy', () => {
    const s: StorageAdapter = new MemoryStorage()
    expect(s.capabilities).toEqual({ shared: false, zeroCopyReads: true })
    expect(s.lock).toBeUndefined()
    expect(s.watch).toBeUndefined()
  })

  it('refuses every call after close with CLOSED', async () => {
    const s = new MemoryStorage()
    await s.close()
    await expect(s.commit({})).rejects.toMatchObject({ code: 'CLOSED' })
    await expect(s.readBatches('t/0', 0, { maxBytes: 1 })).rejects.toMatchObject({ code: 'CLOSED' })
    await expect(s.getMeta('k')).rejects.toMatchObject({ code: 'CLOSED' })
    await expect(s.listMeta('')).rejects.toMatchObject({ code: 'CLOSED' })
  })

  it('refuses a meta value JSON cannot hold with INVALID_REQUEST', async () => {
    const s = new MemoryStorage()
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    await expect(s.commit({ meta: [{ key: 'k', value: cyclic }] })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    await expect(s.commit({ meta: [{ key: 'k', value: () => 1 }] })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    await expect(s.commit({ meta: [{ key: 'k', value: 1n }] })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    expect(await s.listMeta('')).toEqual([])
  })

  it('retention from the start stays cheap on a long log (100,000 batches, 1,000 deletes)', async () => {
    const s = new MemoryStorage()
    const N = 100_000
    const started = performance.now()
    for (let i = 0; i < N; i += 1000) {
      const batches = []
      for (let j = i; j < i + 1000; j++) batches.push({ stream: 't/0', batch: makeBatch(j, j, 8) })
      await s.commit({ batches })
    }
    for (let i = 0; i < N - 100; i += 100) {
      await s.commit({ deleteRanges: [{ stream: 't/0', fromOffset: i, toOffset: i + 100 }] })
      const [first] = await s.readBatches('t/0', 0, { maxBytes: 1 })
      expect(first!.baseOffset).toBe(i + 100)
    }
    expect(await s.readBatches('t/0', 0, { maxBytes: 1e9 })).toHaveLength(100)
    // generous bound: quadratic behaviour here would take many seconds
    expect(performance.now() - started).toBeLessThan(5000)
  })
})

describe('MemoryStorage zero-copy reads', () => {
  it('hands out the stored bytes themselves (no allocation per read), each time in a fresh record', async () => {
    const s = new MemoryStorage()
    const bytes = new Uint8Array(64).fill(7)
    await s.commit({ batches: [{ stream: 'a/0', batch: { baseOffset: 0, lastOffset: 0, maxTimestamp: 1, bytes } }] })
    const [first] = await s.readBatches('a/0', 0, { maxBytes: 1024 })
    const [second] = await s.readBatches('a/0', 0, { maxBytes: 1024 })
    expect(first.bytes).toBe(second.bytes)
    expect(first).not.toBe(second)
    expect(first.bytes).not.toBe(bytes) // copied in on commit
  })
})
