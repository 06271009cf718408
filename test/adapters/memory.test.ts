import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import type { StorageAdapter } from '../../core/storage.ts'
import { describeStorageConformance, makeBatch } from '../conformance/storage-suite.ts'
import { markEncodedInProcess } from '../../core/codec/trusted.ts'
import { decodeRecords, validateBatch } from '../../core/codec/record-batch.ts'
import { openLog } from '../../core/index.ts'
import { createClient } from '../../core/client/client.ts'
import { EdgelogError } from '../../core/errors.ts'
import type { Broker } from '../../core/broker.ts'

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

  it('keeps a large batch the in-process producer encoded as it is, once; copies everything else', async () => {
    const s = new MemoryStorage()
    const commit = (baseOffset: number, bytes: Uint8Array) =>
      s.commit({ batches: [{ stream: 'a/0', batch: { baseOffset, lastOffset: baseOffset, maxTimestamp: 1, bytes } }] })
    const read = async (offset: number) => (await s.readBatches('a/0', offset, { maxBytes: 1, maxBatches: 1 }))[0].bytes
    const produced = markEncodedInProcess(new Uint8Array(64 << 10).fill(1))
    await commit(0, produced)
    expect(await read(0)).toBe(produced)
    // The mark went with it: the same array committed again is a stranger's, and copied.
    await commit(1, produced)
    expect(await read(1)).not.toBe(produced)
    expect(await read(1)).toEqual(produced)
    const small = markEncodedInProcess(new Uint8Array(100).fill(2)) // small: into the slab
    const view = markEncodedInProcess(new Uint8Array(128 << 10).subarray(0, 64 << 10)) // not its whole buffer
    const stranger = new Uint8Array(64 << 10).fill(3) // not the producer's
    for (const [i, bytes] of [small, view, stranger].entries()) {
      await commit(2 + i, bytes)
      expect(await read(2 + i)).not.toBe(bytes)
      expect(await read(2 + i)).toEqual(bytes)
    }
    stranger.fill(4)
    expect((await read(4))[0]).toBe(3)
  })

  it('stores what a producer sends as it was encoded, and reads it back', async () => {
    const storage = new MemoryStorage()
    const log = await openLog({ storage, settings: { 'log.retention.check.interval.ms': 0 } })
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
    const producer = log.producer()
    const messages = Array.from({ length: 300 }, (_, i) => ({ key: `k${i}`, value: `${'v'.repeat(100)}${i}` }))
    await producer.send({ topic: 't', messages, acks: 1 }) // one batch of ~33 KB: kept without a copy
    await producer.send({ topic: 't', messages: messages.slice(0, 2), acks: 1 }) // small: copied
    const r = await log.broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20 })
    const values = r.batches.flatMap((b) => decodeRecords(b).map((m) => new TextDecoder().decode(m.value!)))
    expect(values).toEqual([...messages, ...messages.slice(0, 2)].map((m) => m.value))
    for (const b of r.batches) await validateBatch(b)
    await producer.disconnect()
    await log.close()
  })

  it('a batch stored, its answer lost and sent again, leaves the stored one as it was', async () => {
    const log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
    // The first answer is lost after the batch was stored: the producer (not idempotent) sends it again.
    let lose = 1
    const lossy = Object.create(log.broker) as Broker
    lossy.produce = async (req) => {
      const results = await log.broker.produce(req)
      if (lose > 0) { lose--; throw new EdgelogError('NETWORK_EXCEPTION', 'the answer was lost', { retriable: true }) }
      return results
    }
    const producer = createClient(lossy, { onClose: async () => {} }).producer({ retry: { retries: 1, initialRetryTime: 1 } })
    const messages = Array.from({ length: 200 }, (_, i) => ({ value: `${'v'.repeat(100)}${i}` })) // ~22 KB: kept as encoded
    const [ack] = await producer.send({ topic: 't', messages, acks: 1 })
    expect(ack.baseOffset).toBe('200')
    const r = await log.broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20 })
    const offsets = r.batches.map((b) => decodeRecords(b).map((m) => m.offset))
    expect(offsets.map((o) => [o[0], o[o.length - 1]])).toEqual([[0, 199], [200, 399]])
    await producer.disconnect()
    await log.close()
  })
})
