/**
 * Transactions through the browser worker boundary (comlink over a MessageChannel, IndexedDB
 * through fake-indexeddb), as openBrowserLog runs them: the coordinator and the partitions live
 * in the worker, the KafkaJS-shaped producer and consumer on the page side.
 */
import 'fake-indexeddb/auto'
import { afterEach, describe, expect, it } from 'vitest'
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { openBrowserLog, serveLog } from '../../adapters/indexeddb/index.ts'
import type { EdgelogClient } from '../../core/client/client.ts'
import { readPartition, values } from './helpers.ts'
import { consumeCommitted } from './checks.ts'

let n = 0
const opened: EdgelogClient[] = []
afterEach(async () => {
  for (const log of opened.splice(0)) await log.close().catch(() => {})
})

function fakeWorker(): Worker {
  const { port1, port2 } = new MessageChannel()
  serveLog(port1 as unknown as Parameters<typeof serveLog>[0])
  const page = port2 as MessagePort & { terminate?: () => void }
  page.terminate = () => { port1.close(); port2.close() }
  return page as unknown as Worker
}

async function open(name = `txn-worker-${Date.now()}-${++n}`): Promise<EdgelogClient> {
  const log = await openBrowserLog({ name, worker: fakeWorker })
  opened.push(log)
  return log
}

describe('transactions across the worker boundary (IndexedDB)', () => {
  it('commit, abort, fencing and sendOffsets through the proxy; the state survives reopening the database', async () => {
    const name = `txn-worker-reopen-${Date.now()}`
    const log = await open(name)
    await log.admin().createTopics({ topics: [{ topic: 'out', numPartitions: 1 }, { topic: 'in', numPartitions: 1 }] })
    const producer = log.producer({ transactionalId: 'w', idempotent: true, maxInFlightRequests: 1 })
    const t1 = await producer.transaction()
    await t1.send({ topic: 'out', messages: [{ value: 'kept' }] })
    await t1.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '4' }] }] })
    await t1.commit()
    const t2 = await producer.transaction()
    await t2.send({ topic: 'out', messages: [{ value: 'dropped' }] })
    await t2.abort()
    // A second producer with the id fences the first's open transaction.
    const t3 = await producer.transaction()
    await t3.send({ topic: 'out', messages: [{ value: 'zombie' }] })
    const t4 = await log.producer({ transactionalId: 'w' }).transaction()
    await expect(t3.send({ topic: 'out', messages: [{ value: 'late' }] })).rejects.toMatchObject({ code: 'INVALID_PRODUCER_EPOCH' })
    await t4.send({ topic: 'out', messages: [{ value: 'live' }] })
    await t4.commit()

    expect(values((await readPartition(log.broker, 'out', 0, 'read_committed')).records)).toEqual(['kept', 'live'])
    expect(values((await readPartition(log.broker, 'out', 0, 'read_uncommitted')).records)).toEqual(['kept', 'dropped', 'zombie', 'live'])
    expect((await log.admin().fetchOffsets({ groupId: 'g', topics: ['in'] }))[0].partitions[0].offset).toBe('4')
    expect(await consumeCommitted(log, 'reader', 2)).toEqual(['kept', 'live'])
    await log.close()
    opened.splice(opened.indexOf(log), 1)

    // Reopened: the aborted-transaction index and the coordinator's state come back from IndexedDB.
    const again = await open(name)
    expect(values((await readPartition(again.broker, 'out', 0, 'read_committed')).records)).toEqual(['kept', 'live'])
    const t5 = await again.producer({ transactionalId: 'w' }).transaction()
    await t5.send({ topic: 'out', messages: [{ value: 'after' }] })
    await t5.commit()
    expect(values((await readPartition(again.broker, 'out', 0, 'read_committed')).records)).toEqual(['kept', 'live', 'after'])
  })
})
