/**
 * Consume-transform-produce with transactions, exactly once (KIP-98's point): each input record
 * is transformed, sent and its offset committed in one transaction; the pipeline crashes
 * (abandons its open transaction and consumer) at random points and a new instance with the
 * same transactional id takes over. The output, read_committed, holds each input's result
 * exactly once, in order, and the group's offset ends at the input's end.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { createClient, type EdgelogClient } from '../../core/client/client.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { readPartition, values } from './helpers.ts'

const INPUT = 25

/** One pipeline instance: handles records until it "crashes" after `crashAfter` more (mid-transaction), or the input ends. */
async function instance(log: EdgelogClient, crashAfter: number, phase: 'sent' | 'offsets'): Promise<'crashed' | 'done'> {
  const producer = log.producer({ transactionalId: 'pipe-0', idempotent: true, maxInFlightRequests: 1 })
  const consumer = log.consumer({ groupId: 'pipe', maxWaitTimeInMs: 20 })
  // InitProducerId first, as Kafka's exactly-once pattern has it (KafkaJS's connect does it): it
  // aborts the crashed instance's transaction, whose pending offsets would otherwise hold the
  // consumer's stable offset fetch (require_stable) until that transaction times out.
  await producer.connect()
  await consumer.connect()
  await consumer.subscribe({ topics: ['in'], fromBeginning: true })
  let handled = 0
  let outcome: 'crashed' | 'done' | undefined
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, isRunning, pause }) => {
      for (const message of batch.messages) {
        if (outcome || !isRunning()) {
          pause() // a dead process reads nothing more (nothing resolved: it would be read again at once)
          return
        }
        const txn = await producer.transaction()
        await txn.send({ topic: 'out', messages: [{ value: `T(${message.value!.toString()})` }] })
        const crash = handled++ === crashAfter
        if (crash && phase === 'sent') {
          outcome = 'crashed' // its transaction stays open: abandoned with the process
          pause()
          return
        }
        await txn.sendOffsets({ consumerGroupId: 'pipe', topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(Number(message.offset) + 1) }] }] })
        if (crash) {
          outcome = 'crashed' // after sendOffsets: the offset must not move without the commit
          pause()
          return
        }
        await txn.commit()
        if (Number(message.offset) + 1 === INPUT) outcome = 'done'
      }
    },
  })
  const deadline = Date.now() + 10_000
  while (!outcome && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  await consumer.disconnect()
  return outcome ?? 'crashed'
}

describe('consume-transform-produce', () => {
  it('each input record is in the output exactly once across crashes', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.record({ after: fc.nat({ max: 8 }), phase: fc.constantFrom('sent' as const, 'offsets' as const) }), { minLength: 1, maxLength: 5 }), async (crashes) => {
      const broker = new LocalBroker({ storage: new MemoryStorage(), transactionCleanupIntervalMs: 0 })
      const log = createClient(broker)
      await broker.createTopics({ topics: [{ topic: 'in', numPartitions: 1 }, { topic: 'out', numPartitions: 1 }] })
      await log.producer({ idempotent: true }).send({ topic: 'in', messages: Array.from({ length: INPUT }, (_, i) => ({ value: `r${i}` })) })
      let crashed = 0
      for (const { after, phase } of [...crashes, { after: Number.MAX_SAFE_INTEGER, phase: 'sent' as const }]) {
        if ((await instance(log, after, phase)) === 'done') break
        crashed++
      }
      expect(values((await readPartition(broker, 'out', 0, 'read_committed')).records)).toEqual(Array.from({ length: INPUT }, (_, i) => `T(r${i})`))
      // The crashed instances' sends are in the log, hidden (aborted by the next instance's init).
      expect((await readPartition(broker, 'out', 0, 'read_uncommitted')).records.length).toBe(INPUT + crashed)
      expect((await broker.fetchOffsets({ groupId: 'pipe', topics: ['in'] }))[0].offset).toBe(INPUT)
      await log.close()
    }), { numRuns: 8 })
  }, 120_000)
})
