/**
 * Leader and followers on a simulated cluster: followers copy the leader's batches at its
 * offsets (with its leader epoch in each), the high watermark is the ISR's lowest log end,
 * acks=all answers once the ISR has the batch and refuses when the ISR is too small, and the
 * ISR shrinks and grows with followers' lag.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createClient } from '../../core/client/client.ts'
import type { SimCluster } from '../../core/replication/sim-cluster.ts'
import { assignment, batch, createTopic, replicaRecords, sleep, startCluster, values } from './helpers.ts'

let cluster: SimCluster | undefined
afterEach(async () => { await cluster?.close(); cluster = undefined })

describe('replication: leader and followers', () => {
  it('refuses a replication factor larger than the cluster, and shows leader, replicas and ISR', async () => {
    cluster = await startCluster()
    const client = cluster.client()
    await expect(client.createTopics({ topics: [{ topic: 'big', replicationFactor: 4 }] })).rejects.toMatchObject({ code: 'INVALID_REPLICATION_FACTOR' })
    await createTopic(cluster, 't', { partitions: 3, config: { 'min.insync.replicas': '2' } })
    const [meta] = await client.metadata({ topics: ['t'] })
    expect(meta.config['min.insync.replicas']).toBe(2)
    expect(meta.config['unclean.leader.election.enable']).toBe(false)
    expect(meta.partitions.map((p) => p.replicas.length)).toEqual([3, 3, 3])
    // Leadership spreads: each partition's first replica leads.
    expect(new Set(meta.partitions.map((p) => p.leader)).size).toBe(3)
    for (const p of meta.partitions) expect([...p.isr].sort()).toEqual([0, 1, 2])
    const described = await client.describePartitions({ topic: 't' })
    expect(described.map((d) => d.leader)).toEqual(meta.partitions.map((p) => p.leader))
    // The KafkaJS-shaped admin shows a stopped broker as offline and out of the ISR.
    const admin = createClient(client).admin()
    await cluster.stop(2)
    await cluster.until(async () => (await admin.fetchTopicMetadata({ topics: ['t'] })).topics[0].partitions.every((p) => !p.isr.includes(2)), 2_000, 'the ISR to shrink')
    const { topics: [t] } = await admin.fetchTopicMetadata({ topics: ['t'] })
    for (const p of t.partitions) {
      expect(p.offlineReplicas).toEqual([2])
      expect(p.leader).not.toBe(2)
      expect(p.replicas).toHaveLength(3)
    }
  })

  it('acks=all answers once every ISR member has the batch; followers hold it at the same offsets with the leader epoch', async () => {
    cluster = await startCluster()
    await createTopic(cluster, 't', { config: { 'min.insync.replicas': '2' } })
    const kafka = createClient(cluster.client())
    const producer = kafka.producer()
    await producer.connect()
    for (let i = 0; i < 5; i++) await producer.send({ topic: 't', acks: -1, messages: [{ value: `a${i}` }, { value: `b${i}` }] })
    const a = await assignment(cluster, 't')
    const leaderStatus = await cluster.node(a.leader)!.status({ topicId: a.topicId, partition: 0 })
    expect(leaderStatus.highWatermark).toBe(10)
    const [described] = await cluster.client().describePartitions({ topic: 't' })
    expect(described).toMatchObject({ highWatermark: 10, leader: a.leader, isr: a.isr, replicas: a.replicas })
    expect(described.segments[0]).toMatchObject({ baseOffset: 0, endOffset: 10, batches: 5 })
    const offsets = await cluster.client().listOffsets({ topic: 't', partitions: [0], spec: 'latest' })
    expect(offsets[0].offset).toBe(10)
    for (const b of [0, 1, 2]) {
      const held = await replicaRecords(cluster, b, a)
      expect(held.map((r) => r.offset)).toEqual([...Array(10).keys()])
      expect(held.every((r) => r.epoch === 0)).toBe(true)
    }
    await producer.disconnect()
  })

  it('keeps consumers below the high watermark while followers lack a batch; shrinks the ISR after replica.lag.time.max.ms; NOT_ENOUGH_REPLICAS stores nothing', async () => {
    cluster = await startCluster()
    await createTopic(cluster, 't', { config: { 'min.insync.replicas': '2' } })
    const a = await assignment(cluster, 't')
    const leader = cluster.node(a.leader)!
    const followers = a.replicas.filter((r) => r !== a.leader)
    const key = { topicId: a.topicId, partition: 0 }
    await leader.produce({ ...key, acks: -1, batches: [batch(['x'])], timeoutMs: 2_000 })
    for (const f of followers) cluster.cut(a.leader, f)
    const pending = leader.produce({ ...key, acks: -1, batches: [batch(['y'])], timeoutMs: 5_000 })
    await sleep(40)
    // In the leader's log, not committed: a consumer reads only 'x'.
    const read = await cluster.client().fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20 })
    expect(read.highWatermark).toBe(1)
    expect(read.batches).toHaveLength(1)
    // The followers fall out of the ISR; the batch is then committed by the ISR of one, below min.insync.replicas.
    const [outcome] = await pending
    expect(outcome).toMatchObject({ error: { code: 'NOT_ENOUGH_REPLICAS_AFTER_APPEND' } })
    expect((await assignment(cluster, 't')).isr).toEqual([a.leader])
    const before = (await leader.status(key)).logEndOffset
    const [refused] = await leader.produce({ ...key, acks: -1, batches: [batch(['z'])], timeoutMs: 1_000 })
    expect(refused).toMatchObject({ error: { code: 'NOT_ENOUGH_REPLICAS' } })
    expect((await leader.status(key)).logEndOffset).toBe(before)
    // acks=1 needs the leader only.
    const [one] = await leader.produce({ ...key, acks: 1, batches: [batch(['w'])], timeoutMs: 1_000 })
    expect(one).toMatchObject({ baseOffset: before })
    // Healed: the followers catch up and rejoin the ISR.
    for (const f of followers) cluster.heal(a.leader, f)
    await cluster.until(async () => (await assignment(cluster!, 't')).isr.length === 3, 3_000, 'the ISR to grow back')
    for (const f of followers) expect(values(await replicaRecords(cluster, f, a))).toEqual(['x', 'y', 'w'])
    const [ok] = await leader.produce({ ...key, acks: -1, batches: [batch(['v'])], timeoutMs: 2_000 })
    expect(ok).toMatchObject({ baseOffset: 3 })
  })

  it('a slow follower holds acks=all back until it leaves the ISR, then acks=all goes on with the other', async () => {
    cluster = await startCluster()
    await createTopic(cluster, 't', { config: { 'min.insync.replicas': '2' } })
    const a = await assignment(cluster, 't')
    const [slow, fast] = a.replicas.filter((r) => r !== a.leader)
    cluster.slow(a.leader, slow, 1_000)
    const key = { topicId: a.topicId, partition: 0 }
    const started = Date.now()
    const [first] = await cluster.node(a.leader)!.produce({ ...key, acks: -1, batches: [batch(['p'])], timeoutMs: 5_000 })
    expect(first).toMatchObject({ baseOffset: 0 })
    // Answered once the slow follower was dropped (lag 150 ms), long before its fetch returned.
    expect(Date.now() - started).toBeLessThan(900)
    expect((await assignment(cluster, 't')).isr.sort()).toEqual([a.leader, fast].sort())
    cluster.slow(a.leader, slow, 0)
  })

  it('deletes a topic\'s replicas on every broker, even one that was stopped at the time', async () => {
    cluster = await startCluster()
    await createTopic(cluster, 'gone')
    const a = await assignment(cluster, 'gone')
    await cluster.node(a.leader)!.produce({ topicId: a.topicId, partition: 0, acks: -1, batches: [batch(['x'])], timeoutMs: 2_000 })
    const away = a.replicas.find((r) => r !== a.leader)!
    await cluster.stop(away)
    await cluster.client().deleteTopics({ topics: ['gone'] })
    await cluster.restart(away)
    await cluster.until(async () => {
      for (const b of [0, 1, 2]) if ((await cluster!.storage(b).listMeta(`head/${a.topicId}/`)).length > 0) return false
      return true
    }, 2_000, 'every broker to drop the topic')
    for (const b of [0, 1, 2]) expect(await replicaRecords(cluster, b, a)).toEqual([])
    await expect(cluster.client().metadata({ topics: ['gone'] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' })
  })

  it('serves a consumer in a follower\'s rack from that follower (KIP-392), up to its high watermark', async () => {
    cluster = await startCluster({ racks: ['east', 'west', 'north'] })
    await createTopic(cluster, 't')
    const a = await assignment(cluster, 't')
    const follower = a.replicas.find((r) => r !== a.leader)!
    const rack = ['east', 'west', 'north'][follower]
    await cluster.node(a.leader)!.produce({ topicId: a.topicId, partition: 0, acks: -1, batches: [batch(['r1', 'r2'])], timeoutMs: 2_000 })
    // The follower learns the high watermark on its next fetch.
    await cluster.until(async () => (await cluster!.node(follower)!.status({ topicId: a.topicId, partition: 0 })).highWatermark === 2)
    const near = cluster.client({ rack })
    const result = await near.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20 })
    expect(result.batches).toHaveLength(1)
    expect(near.readsServedBy.get(follower)).toBe(1)
    // Past what the follower has committed: the leader answers.
    const tail = await near.fetch({ topic: 't', partition: 0, offset: 2, maxBytes: 1 << 20, maxWaitMs: 0 })
    expect(tail.batches).toHaveLength(0)
    expect(tail.highWatermark).toBe(2)
    // The KafkaJS-shaped consumer sends its rackId with each fetch.
    const plain = cluster.client()
    const consumer = createClient(plain).consumer({ groupId: 'g', rackId: rack })
    await consumer.connect()
    await consumer.subscribe({ topic: 't', fromBeginning: true })
    const seen: string[] = []
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.value!.toString()) } })
    await cluster.until(() => seen.length === 2, 3_000, 'the consumer')
    await consumer.disconnect()
    expect(seen).toEqual(['r1', 'r2'])
    expect(plain.readsServedBy.get(follower)).toBeGreaterThan(0)
    expect(plain.readsServedBy.get(a.leader)).toBeUndefined()
  })
})
