/** The property tests' checks: what readers at each isolation level get, against the model. */
import { expect } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { createClient, type EdgelogClient } from '../../core/client/client.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import type { StorageAdapter } from '../../core/storage.ts'
import { clock } from '../core/helpers.ts'
import { readPartition } from './helpers.ts'
import { PARTITIONS, Workload, type ModelRecord } from './model.ts'

export async function checkReads(broker: LocalBroker, work: Workload, final: boolean): Promise<void> {
  const states = await broker.describePartitions({ topic: 'out' })
  for (let p = 0; p < PARTITIONS; p++) {
    const { logStartOffset, highWatermark } = states[p]
    const inLog = (r: ModelRecord) => r.partition === p && r.offset >= logStartOffset
    const expected = work.records.filter(inLog).sort((a, b) => a.offset - b.offset)
    const uncommitted = await readPartition(broker, 'out', p, 'read_uncommitted', logStartOffset)
    expect(uncommitted.records.map((r) => r.value)).toEqual(expected.map((r) => r.value))
    const committed = await readPartition(broker, 'out', p, 'read_committed', logStartOffset)
    const visible = expected.filter((r) => r.status === 'committed' && r.offset < committed.end)
    expect(committed.records.map((r) => `${r.offset}:${r.value}`)).toEqual(visible.map((r) => `${r.offset}:${r.value}`))
    // Nothing pending may sit below where read_committed stopped.
    const firstPending = Math.min(...expected.filter((r) => r.status === 'pending').map((r) => r.offset))
    expect(committed.end).toBeLessThanOrEqual(Math.max(firstPending, logStartOffset))
    if (final) expect(committed.end).toBe(highWatermark)
  }
  const [offset] = await broker.fetchOffsets({ groupId: 'g', topics: ['in'] })
  expect(offset.offset).toBe(work.committedOffset)
}

export async function consumeCommitted(log: EdgelogClient, groupId: string, expected: number): Promise<string[]> {
  const seen: string[] = []
  const consumer = log.consumer({ groupId, maxWaitTimeInMs: 20 })
  await consumer.connect()
  await consumer.subscribe({ topics: ['out'], fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.value!.toString()) } })
  const deadline = Date.now() + 5000
  while (seen.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  await new Promise((r) => setTimeout(r, 30))
  await consumer.disconnect()
  return seen
}

export async function runWorkload(actions: Parameters<Workload['run']>[0][], storage: StorageAdapter = new MemoryStorage()) {
  const time = clock(Date.now())
  const broker = new LocalBroker({ storage, now: time.now, transactionCleanupIntervalMs: 0 })
  const log = createClient(broker)
  await broker.createTopics({ topics: [{ topic: 'out', numPartitions: PARTITIONS }, { topic: 'in', numPartitions: 1 }] })
  const work = new Workload(log, broker, time)
  for (const action of actions) {
    await work.run(action)
    await checkReads(broker, work, false)
  }
  await work.finish()
  await checkReads(broker, work, true)
  return { broker, log, work }
}

