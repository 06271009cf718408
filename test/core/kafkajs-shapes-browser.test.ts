/**
 * KafkaJS's shapes through edgelog/indexeddb's worker front (BrokerHost served with comlink on a
 * MessageChannel, openBrowserLog on the other end, fake-indexeddb): admin.deleteTopicRecords and
 * the four codecs reach the log in the worker as they do in process.
 */
import 'fake-indexeddb/auto'
import { afterEach, describe, expect, it } from 'vitest'
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { openBrowserLog, serveLog } from '../../adapters/indexeddb/index.ts'
import { CompressionTypes } from '../../core/index.ts'
import { readBatchHeader } from '../../core/codec/record-batch.ts'
import type { EdgelogClient } from '../../core/client/client.ts'

let n = 0
const opened: EdgelogClient[] = []
afterEach(async () => { for (const log of opened.splice(0)) await log.close().catch(() => {}) })

function fakeWorker(): Worker {
  const { port1, port2 } = new MessageChannel()
  serveLog(port1 as unknown as Parameters<typeof serveLog>[0])
  const page = port2 as MessagePort & { terminate?: () => void }
  page.terminate = () => { port1.close(); port2.close() }
  return page as unknown as Worker
}

async function open(): Promise<EdgelogClient> {
  const log = await openBrowserLog({ name: `shapes-${Date.now()}-${++n}`, worker: fakeWorker })
  opened.push(log)
  return log
}

describe('through the IndexedDB worker front', () => {
  it('admin.deleteTopicRecords moves the low watermark; refusals keep their code', async () => {
    const log = await open()
    const admin = log.admin()
    await admin.createTopics({ topics: [{ topic: 't', numPartitions: 2 }] })
    const producer = log.producer()
    for (const partition of [0, 1]) await producer.send({ topic: 't', messages: Array.from({ length: 4 }, (_, i) => ({ partition, value: `v${i}` })) })
    await admin.deleteTopicRecords({ topic: 't', partitions: [{ partition: 0, offset: '2' }, { partition: 1, offset: '-1' }] })
    expect((await admin.fetchTopicOffsets('t')).map((o) => [o.low, o.high])).toEqual([['2', '4'], ['4', '4']])
    await expect(admin.deleteTopicRecords({ topic: 't', partitions: [{ partition: 0, offset: '9' }] })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
  })

  it.each(['GZIP', 'Snappy', 'LZ4', 'ZSTD'] as const)('send({ compression: CompressionTypes.%s }) is stored compressed and read back', async (name) => {
    const log = await open()
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
    const messages = Array.from({ length: 20 }, (_, i) => ({ value: `record ${i} `.repeat(5) }))
    await log.producer().send({ topic: 't', compression: CompressionTypes[name], messages })
    const fetched = await log.broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20 })
    expect(readBatchHeader(fetched.batches[0]).compression).toBe(name.toLowerCase())
    const consumer = log.consumer({ groupId: 'g', maxWaitTimeInMs: 50 })
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    const seen: string[] = []
    await new Promise<void>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => { seen.push(message.value!.toString()); if (seen.length === 20) resolve() } })
    })
    await consumer.disconnect()
    expect(seen).toEqual(messages.map((m) => m.value))
  })
})
