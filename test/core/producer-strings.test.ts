import { afterEach, describe, expect, it } from 'vitest'
import { decodeRecords, murmur2, openLog, Partitioners, readBatchHeader, toPositive, type EdgelogClient } from '../../core/index.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'

const utf8 = (s: string) => new TextEncoder().encode(s)
let log: EdgelogClient | undefined
afterEach(async () => { await log?.close(); log = undefined })

/** Every stored batch of a partition, decoded: [key, value] as strings, and the batch sizes. */
async function stored(client: EdgelogClient, topic: string, partition: number) {
  const records: Array<[string | null, string | null]> = []
  const sizes: number[] = []
  for (let offset = 0; ;) {
    const { batches } = await client.broker.fetch({ topic, partition, offset, maxBytes: 1 << 24 })
    if (batches.length === 0) return { records, sizes }
    for (const b of batches) {
      sizes.push(b.byteLength)
      for (const r of decodeRecords(b)) records.push([r.key && new TextDecoder().decode(r.key), r.value && new TextDecoder().decode(r.value)])
      const h = readBatchHeader(b)
      offset = h.baseOffset + h.lastOffsetDelta + 1
    }
  }
}

describe('producer: string keys and values (KafkaJS users send JSON strings)', () => {
  const keys = ['user-1', 'ключ', '键', '🔑 key', 'x'.repeat(300), '', 'lone \ud800 surrogate']

  it('partitions string keys by murmur2 of their UTF-8 bytes, with every built-in partitioner', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 7 }] })
    for (const createPartitioner of [undefined, Partitioners.DefaultPartitioner, Partitioners.JavaCompatiblePartitioner]) {
      const producer = log.producer({ createPartitioner })
      const sent = await producer.send({ topic: 't', acks: 1, messages: keys.map((key) => ({ key, value: 'v' })) })
      const partitions = new Set(sent.map((r) => r.partition))
      expect([...partitions].sort()).toEqual([...new Set(keys.map((k) => toPositive(murmur2(utf8(k))) % 7))].sort())
      // and the same as the partitioner given the bytes
      const p = (createPartitioner ?? Partitioners.DefaultPartitioner)()
      for (const key of keys) {
        const [r] = await producer.send({ topic: 't', acks: 1, messages: [{ key, value: 'v' }] })
        expect(r.partition).toBe(p({ topic: 't', partitionMetadata: Array.from({ length: 7 }, (_, i) => ({ partitionId: i })), message: { key: utf8(key) } }))
      }
    }
  })

  it('stores the UTF-8 of string keys and values, and splits batches that encode larger than estimated', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 's', numPartitions: 1 }] })
    // 3 bytes per character: the estimate (one byte per character) is a third of the truth
    const value = '値'.repeat(1000)
    const producer = log.producer({ maxBatchBytes: 20_000 })
    const messages = Array.from({ length: 40 }, (_, i) => ({ key: keys[i % keys.length], value: i % 2 ? value : `{"i":${i}}` }))
    await producer.send({ topic: 's', acks: 1, messages })
    const { records, sizes } = await stored(log, 's', 0)
    expect(records).toEqual(messages.map((m) => [new TextDecoder().decode(utf8(m.key)), m.value]))
    for (const size of sizes) expect(size).toBeLessThanOrEqual(20_000)
  })

  it('an idempotent producer numbers split batches without gaps', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 'i', numPartitions: 1 }] })
    const producer = log.producer({ idempotent: true, maxBatchBytes: 10_000 })
    const messages = Array.from({ length: 30 }, () => ({ value: 'é'.repeat(2000) }))
    await producer.send({ topic: 'i', messages })
    await producer.send({ topic: 'i', messages: [{ value: 'last' }] })
    const { batches } = await log.broker.fetch({ topic: 'i', partition: 0, offset: 0, maxBytes: 1 << 24 })
    const headers = batches.map((b) => readBatchHeader(b))
    let next = 0
    for (const h of headers) {
      expect(h.baseSequence).toBe(next)
      next += h.recordCount
    }
    expect(next).toBe(31)
  })
})
