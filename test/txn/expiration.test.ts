/**
 * Kafka's transactional.id.expiration.ms: a transactional id with nothing open, unused for that
 * long, is forgotten by maintenance, so ids do not pile up for ever; one with a transaction
 * open is never forgotten (its timeout ends it first). A producer that comes back after its id
 * expired is refused (INVALID_PRODUCER_ID_MAPPING) and a new one starts afresh.
 */
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { createClient } from '../../core/client/client.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { txnKey } from '../../core/txn/state.ts'
import { clock } from '../core/helpers.ts'

const DAY = 24 * 3600 * 1000

describe('transactional.id.expiration.ms', () => {
  it('forgets an idle id after 7 days by default, and never one with a transaction open', async () => {
    const storage = new MemoryStorage()
    const time = clock()
    const broker = new LocalBroker({ storage, now: time.now, transactionCleanupIntervalMs: 0 })
    const log = createClient(broker)
    await broker.createTopics({ topics: [{ topic: 'out', numPartitions: 1 }] })
    const idle = log.producer({ transactionalId: 'idle', idempotent: true, maxInFlightRequests: 1 })
    const t = await idle.transaction()
    await t.send({ topic: 'out', messages: [{ value: 'a' }] })
    await t.commit()
    const busy = log.producer({ transactionalId: 'busy', idempotent: true, maxInFlightRequests: 1, transactionTimeout: 900_000 })
    const open = await busy.transaction()
    await open.send({ topic: 'out', messages: [{ value: 'b' }] })

    time.advance(6 * DAY)
    await broker.runMaintenance({})
    expect(await storage.getMeta(txnKey('idle'))).toBeDefined()
    time.advance(DAY + 1)
    await broker.runMaintenance({})
    expect(await storage.getMeta(txnKey('idle'))).toBeUndefined()
    // The open one timed out long ago: aborted (and kept until it, too, has been idle 7 days).
    expect(await storage.getMeta(txnKey('busy'))).toMatchObject({ state: 'CompleteAbort' })

    // The forgotten producer is refused; a new one with the id starts afresh.
    const again = await idle.transaction().catch((e) => e)
    const refused = again instanceof Error ? again : await again.send({ topic: 'out', messages: [{ value: 'late' }] }).catch((e: unknown) => e)
    expect(refused).toMatchObject({ code: 'INVALID_PRODUCER_ID_MAPPING' })
    const fresh = log.producer({ transactionalId: 'idle', idempotent: true, maxInFlightRequests: 1 })
    const t2 = await fresh.transaction()
    await t2.send({ topic: 'out', messages: [{ value: 'c' }] })
    await t2.commit()
    expect(await storage.getMeta(txnKey('idle'))).toMatchObject({ state: 'CompleteCommit' })
    await log.close()
  })

  it('takes the broker setting', async () => {
    const storage = new MemoryStorage()
    const time = clock()
    const broker = new LocalBroker({ storage, now: time.now, transactionCleanupIntervalMs: 0, settings: { 'transactional.id.expiration.ms': 60_000 } })
    const log = createClient(broker)
    await broker.createTopics({ topics: [{ topic: 'out', numPartitions: 1 }] })
    const producer = log.producer({ transactionalId: 'short', idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    time.advance(60_001)
    await broker.runMaintenance({})
    expect(await storage.getMeta(txnKey('short'))).toBeUndefined()
    await log.close()
  })
})
