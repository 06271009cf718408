import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import type { StorageAdapter } from '../../core/storage.ts'
import { describeStorageConformance, makeBatch } from '../conformance/storage-suite.ts'

describeStorageConformance('MemoryStorage', async () => {
  const storage = new MemoryStorage()
  return { storage, teardown: () => storage.close() }
})

describe('MemoryStorage specifics', () => {
  it('is not shared and has no lock or watch', () => {
    const s: StorageAdapter = new MemoryStorage()
    expect(s.capabilities).toEqual({ shared: false })
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
