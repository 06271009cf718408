/**
 * Kafka's require_stable (KIP-447): a read_committed consumer never starts from a committed
 * offset that an open transaction's sendOffsets is about to move (it would handle those records
 * a second time). Found by the edge's SIGKILL pipeline test: an instance that read the group's
 * offset before the last instance's commit had completed wrote its records again.
 */
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { createClient } from '../../core/client/client.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'

async function setup() {
  const broker = new LocalBroker({ storage: new MemoryStorage(), transactionCleanupIntervalMs: 0 })
  const log = createClient(broker)
  await broker.createTopics({ topics: [{ topic: 'in', numPartitions: 1 }, { topic: 'out', numPartitions: 1 }] })
  await log.producer({ idempotent: true }).send({ topic: 'in', messages: Array.from({ length: 10 }, (_, i) => ({ value: `r${i}` })) })
  return { broker, log }
}

describe('fetchOffsets with requireStable', () => {
  it('is UNSTABLE_OFFSET_COMMIT while a transaction holds the offsets pending, and answers them once it ended', async () => {
    const { broker, log } = await setup()
    const producer = log.producer({ transactionalId: 'tx', idempotent: true, maxInFlightRequests: 1 })
    const txn = await producer.transaction()
    await txn.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '5' }] }] })
    await expect(broker.fetchOffsets({ groupId: 'g', topics: ['in'], requireStable: true })).rejects.toMatchObject({ code: 'UNSTABLE_OFFSET_COMMIT', retriable: true })
    // Other topics, and a caller that does not ask for stability, are answered.
    expect(await broker.fetchOffsets({ groupId: 'g', topics: ['out'], requireStable: true })).toEqual([expect.objectContaining({ topic: 'out', offset: -1 })])
    expect((await broker.fetchOffsets({ groupId: 'g', topics: ['in'] }))[0].offset).toBe(-1)
    await txn.commit()
    expect((await broker.fetchOffsets({ groupId: 'g', topics: ['in'], requireStable: true }))[0].offset).toBe(5)
    await log.close()
  })

  it('a read_committed consumer joining during the transaction starts where it commits; read_uncommitted does not wait', async () => {
    const { log } = await setup()
    const producer = log.producer({ transactionalId: 'tx', idempotent: true, maxInFlightRequests: 1 })
    const txn = await producer.transaction()
    await txn.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '5' }] }] })

    const seen: string[] = []
    const consumer = log.consumer({ groupId: 'g', maxWaitTimeInMs: 20, retry: { initialRetryTime: 20, retries: 100 } } as never)
    await consumer.connect()
    await consumer.subscribe({ topics: ['in'], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(String(message.value)) } })
    await new Promise((r) => setTimeout(r, 300))
    expect(seen).toEqual([]) // waiting for the transaction, not reading from 0
    await txn.commit()
    const deadline = Date.now() + 5_000
    while (seen.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    expect(seen).toEqual(['r5', 'r6', 'r7', 'r8', 'r9'])
    await consumer.disconnect()

    // read_uncommitted asks without require_stable: the committed offset of the moment.
    const txn2 = await producer.transaction()
    await txn2.sendOffsets({ consumerGroupId: 'h', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '8' }] }] })
    const loose: string[] = []
    const uncommitted = log.consumer({ groupId: 'h', maxWaitTimeInMs: 20, readUncommitted: true } as never)
    await uncommitted.connect()
    await uncommitted.subscribe({ topics: ['in'], fromBeginning: true })
    await uncommitted.run({ eachMessage: async ({ message }) => { loose.push(String(message.value)) } })
    const until = Date.now() + 5_000
    while (loose.length < 10 && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
    expect(loose[0]).toBe('r0')
    await uncommitted.disconnect()
    await txn2.abort()
    await log.close()
  })
})
