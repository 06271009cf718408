/**
 * Two contexts over one store (two browser tabs over one IndexedDB database), as the chaos
 * suite's SharingHub models them: cross-context locks and change announcements. The coordinator
 * reads a transactional id's record again under the lock; each tab's partition logs see the
 * other's markers.
 */
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { createClient } from '../../core/client/client.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { FaultyStorage, NO_FAULTS, SharingHub, seededRandom } from '../chaos/faulty-storage.ts'
import { readPartition, values } from './helpers.ts'

function tabs() {
  const inner = new MemoryStorage()
  const hub = new SharingHub()
  return [1, 2].map((context) => {
    const broker = new LocalBroker({ storage: new FaultyStorage(inner, NO_FAULTS, seededRandom(context), { hub, context }), transactionCleanupIntervalMs: 0 })
    return { broker, log: createClient(broker) }
  })
}

describe('transactions across two contexts sharing a store', () => {
  it('a producer in one tab fences the same id in the other; each tab reads what the other committed', async () => {
    const [a, b] = tabs()
    await a.broker.createTopics({ topics: [{ topic: 'out', numPartitions: 1 }] })
    const ta = await a.log.producer({ transactionalId: 'shared' }).transaction()
    await ta.send({ topic: 'out', messages: [{ value: 'from-a' }] })
    // Tab b reads the partition now (its log caches the open transaction), then takes over the id.
    expect(values((await readPartition(b.broker, 'out', 0, 'read_committed')).records)).toEqual([])
    const tb = await b.log.producer({ transactionalId: 'shared' }).transaction()
    await expect(ta.send({ topic: 'out', messages: [{ value: 'late' }] })).rejects.toMatchObject({ code: 'INVALID_PRODUCER_EPOCH' })
    await tb.send({ topic: 'out', messages: [{ value: 'from-b' }] })
    await tb.commit()
    await new Promise((r) => setTimeout(r, 5)) // announcements arrive as messages do
    for (const tab of [a, b]) {
      expect(values((await readPartition(tab.broker, 'out', 0, 'read_committed')).records)).toEqual(['from-b'])
      expect(values((await readPartition(tab.broker, 'out', 0, 'read_uncommitted')).records)).toEqual(['from-a', 'from-b'])
    }
    // Tab a's new producer continues from the stored record (epoch after b's).
    const ta2 = await a.log.producer({ transactionalId: 'shared' }).transaction()
    await ta2.send({ topic: 'out', messages: [{ value: 'a-again' }] })
    await ta2.commit()
    await new Promise((r) => setTimeout(r, 5))
    expect(values((await readPartition(b.broker, 'out', 0, 'read_committed')).records)).toEqual(['from-b', 'a-again'])
  })
})
