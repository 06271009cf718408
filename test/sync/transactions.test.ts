/**
 * A replica follows the leader's transactions (as a Kafka follower does): it keeps its own last
 * stable offset and aborted-transaction index from the batches and markers it copies, so a
 * read_committed consumer of the replica (a browser following an edge topic) sees exactly what
 * it would see on the leader: never an aborted record, nothing of an open transaction.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { createClient, type EdgelogClient } from '../../core/client/client.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { Follower } from '../../core/sync/follower.ts'
import { readPartition, values } from '../txn/helpers.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0)) await c() })

async function setup(): Promise<{ leader: LocalBroker; replica: LocalBroker; leaderClient: EdgelogClient; replicaClient: EdgelogClient; follower: Follower }> {
  const leader = new LocalBroker({ storage: new MemoryStorage(), transactionCleanupIntervalMs: 0 })
  const replica = new LocalBroker({ storage: new MemoryStorage() })
  const follower = new Follower({ leader, replicas: replica.replicas, source: 'leader', topics: ['out'], maxWaitMs: 100, discoveryIntervalMs: 100 })
  const leaderClient = createClient(leader)
  const replicaClient = createClient(replica)
  cleanups.push(async () => { await follower.stop(); await leaderClient.close(); await replicaClient.close() })
  await leader.createTopics({ topics: [{ topic: 'out', numPartitions: 1 }] })
  return { leader, replica, leaderClient, replicaClient, follower }
}

const caughtUp = async (leader: LocalBroker, replica: LocalBroker) => {
  const deadline = Date.now() + 10_000
  const end = async (b: LocalBroker) => (await b.listOffsets({ topic: 'out', partitions: [0], spec: 'latest' }))[0].offset
  while ((await end(replica).catch(() => -1)) !== await end(leader)) {
    if (Date.now() > deadline) throw new Error('the replica did not catch up')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('a replica of a transactional topic', () => {
  it('hides aborted and open transactions from read_committed, as the leader does', async () => {
    const { leader, replica, leaderClient, follower } = await setup()
    const producer = leaderClient.producer({ transactionalId: 'tx', idempotent: true, maxInFlightRequests: 1 })
    const plain = leaderClient.producer({ idempotent: true })
    const t1 = await producer.transaction()
    await t1.send({ topic: 'out', messages: [{ value: 'a' }] })
    await t1.commit()
    const t2 = await producer.transaction()
    await t2.send({ topic: 'out', messages: [{ value: 'aborted' }] })
    await plain.send({ topic: 'out', messages: [{ value: 'plain' }] })
    await t2.abort()
    const t3 = await producer.transaction()
    await t3.send({ topic: 'out', messages: [{ value: 'open' }] })
    await follower.start()
    await caughtUp(leader, replica)

    const onLeader = await readPartition(leader, 'out', 0, 'read_committed')
    const onReplica = await readPartition(replica, 'out', 0, 'read_committed')
    expect(values(onReplica.records)).toEqual(['a', 'plain'])
    expect(onReplica).toEqual(onLeader)
    const fetched = await replica.fetch({ topic: 'out', partition: 0, offset: 0, maxBytes: 1 << 20, isolationLevel: 1 })
    expect(fetched.lastStableOffset).toBe((await leader.fetch({ topic: 'out', partition: 0, offset: 0, maxBytes: 1 << 20, isolationLevel: 1 })).lastStableOffset)
    expect(values((await readPartition(replica, 'out', 0, 'read_uncommitted')).records)).toEqual(['a', 'aborted', 'plain', 'open'])

    // The open transaction commits on the leader: the replica's read_committed reader sees it once copied.
    await t3.commit()
    await caughtUp(leader, replica)
    expect(values((await readPartition(replica, 'out', 0, 'read_committed')).records)).toEqual(['a', 'plain', 'open'])
  })

  it('a read_committed group consumer of the replica never gets an aborted record', async () => {
    const { leader, replica, leaderClient, replicaClient, follower } = await setup()
    await follower.start()
    const producer = leaderClient.producer({ transactionalId: 'tx', idempotent: true, maxInFlightRequests: 1 })
    for (let i = 0; i < 6; i++) {
      const t = await producer.transaction()
      await t.send({ topic: 'out', messages: [{ value: `v${i}` }] })
      if (i % 2 === 0) await t.commit()
      else await t.abort()
    }
    await caughtUp(leader, replica)
    const consumer = replicaClient.consumer({ groupId: 'g', maxWaitTimeInMs: 20 })
    await consumer.subscribe({ topics: ['out'], fromBeginning: true })
    const seen: string[] = []
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(String(message.value)) } })
    const deadline = Date.now() + 5_000
    while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    await new Promise((r) => setTimeout(r, 100))
    expect(seen).toEqual(['v0', 'v2', 'v4'])
    await consumer.disconnect()
  })
})
