/** Kafka's topic-level compression.type: the log stores batches with the topic's codec, whatever the producer sent. */
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { openLog } from '../../core/open-log.ts'
import { readBatchHeader, encodeBatch, encodeBatchAsync } from '../../core/codec/record-batch.ts'

async function storedCodecs(log: Awaited<ReturnType<typeof openLog>>, topic: string) {
  const { batches } = await log.broker.fetch({ topic, partition: 0, offset: 0, maxBytes: 1 << 20 })
  return batches.map((b) => readBatchHeader(b).compression)
}

describe('compression.type', () => {
  it('re-encodes batches with the topic\'s codec; consumers read the same records; a retry is still a duplicate', async () => {
    const log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't', configEntries: [{ name: 'compression.type', value: 'lz4' }] }] })
    const { producerId, producerEpoch } = await log.broker.initProducerId({})
    const records = Array.from({ length: 50 }, (_, i) => ({ key: new TextEncoder().encode(`k${i}`), value: new TextEncoder().encode(`value ${i}`.repeat(5)), timestamp: 1_700_000_000_000 + i }))
    const plain = encodeBatch(records, { producerId, producerEpoch, baseSequence: 0 })
    const [first] = await log.broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch: plain.slice() }] })
    const [retry] = await log.broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch: plain.slice() }] })
    expect(retry.baseOffset).toBe(first.baseOffset)
    const gzip = await encodeBatchAsync(records, { compression: 'gzip' })
    await log.broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch: gzip }] })
    expect(await storedCodecs(log, 't')).toEqual(['lz4', 'lz4'])
    const consumer = log.consumer({ groupId: 'g', maxWaitTimeInMs: 20 })
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    const seen: string[] = []
    await new Promise<void>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => { seen.push(message.value!.toString()); if (seen.length === 100) resolve() } })
    })
    await consumer.disconnect()
    expect(seen).toEqual([...records, ...records].map((r) => new TextDecoder().decode(r.value)))
    await log.close()
  })

  it('\'producer\' keeps what the producer sent; \'uncompressed\' stores plain batches', async () => {
    const log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 'keep' }, { topic: 'plain', configEntries: [{ name: 'compression.type', value: 'uncompressed' }] }] })
    const batch = await encodeBatchAsync([{ key: null, value: new TextEncoder().encode('x'.repeat(500)), timestamp: 1 }], { compression: 'gzip' })
    await log.broker.produce({ acks: -1, entries: [{ topic: 'keep', partition: 0, batch: batch.slice() }, { topic: 'plain', partition: 0, batch: batch.slice() }] })
    expect(await storedCodecs(log, 'keep')).toEqual(['gzip'])
    expect(await storedCodecs(log, 'plain')).toEqual(['none'])
    await log.close()
  })
})
