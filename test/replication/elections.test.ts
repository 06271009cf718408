/**
 * Leader elections, leader epochs and KIP-101 truncation on a simulated cluster: a leader that
 * stops is replaced from the ISR with nothing acknowledged lost; a deposed leader is fenced and,
 * back, truncates what it alone had at the epoch boundary; with no ISR member left the
 * partition waits (clean) or elects any replica and reports the loss (unclean).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createClient } from '../../core/client/client.ts'
import type { SimCluster } from '../../core/replication/sim-cluster.ts'
import type { ReplicationCheckpoint } from '../../core/replication/epoch-cache.ts'
import { assignment, batch, createTopic, replicaRecords, sleep, startCluster, values } from './helpers.ts'

let cluster: SimCluster | undefined
afterEach(async () => { await cluster?.close(); cluster = undefined })

describe('replication: elections, epochs, truncation', () => {
  it('elects a new leader from the ISR when the leader stops; the client carries on and nothing acknowledged is lost', async () => {
    cluster = await startCluster()
    await createTopic(cluster, 't', { config: { 'min.insync.replicas': '2' } })
    const kafka = createClient(cluster.client())
    const producer = kafka.producer({ retry: { retries: 20, initialRetryTime: 10, maxRetryTime: 50 } })
    await producer.connect()
    await producer.send({ topic: 't', acks: -1, messages: [{ value: 'before-1' }, { value: 'before-2' }] })
    const a = await assignment(cluster, 't')
    await cluster.stop(a.leader)
    await producer.send({ topic: 't', acks: -1, messages: [{ value: 'after' }] })
    const b = await assignment(cluster, 't')
    expect(b.leader).not.toBe(a.leader)
    expect(b.leaderEpoch).toBe(a.leaderEpoch + 1)
    expect(b.isr).not.toContain(a.leader)
    expect(cluster.events).toContainEqual(expect.objectContaining({ kind: 'leader-elected', leader: b.leader, leaderEpoch: 1 }))
    // The old leader returns as a follower, catches up and rejoins the ISR.
    await cluster.restart(a.leader)
    await cluster.until(async () => (await assignment(cluster!, 't')).isr.length === 3, 3_000, 'the old leader to rejoin')
    for (const r of [0, 1, 2]) expect(values(await replicaRecords(cluster, r, a))).toEqual(['before-1', 'before-2', 'after'])
    // The epoch cache is persisted with the replica's log.
    const checkpoint = await cluster.storage(a.leader).getMeta<ReplicationCheckpoint>(`replication/${a.topicId}/0`)
    expect(checkpoint?.epochs).toEqual([{ epoch: 0, startOffset: 0 }, { epoch: 1, startOffset: 2 }])
    const consumer = kafka.consumer({ groupId: 'g' })
    await consumer.connect()
    await consumer.subscribe({ topic: 't', fromBeginning: true })
    const seen: string[] = []
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.value!.toString()) } })
    await cluster.until(() => seen.length === 3, 5_000, 'the consumer')
    expect(seen).toEqual(['before-1', 'before-2', 'after'])
    await consumer.disconnect()
    await producer.disconnect()
  })

  it('moves leadership without a failure (preferred-leader election): the old leader follows, nothing acknowledged is lost', async () => {
    cluster = await startCluster()
    await createTopic(cluster, 't', { config: { 'min.insync.replicas': '2' } })
    const a = await assignment(cluster, 't')
    const key = { topicId: a.topicId, partition: 0 }
    await cluster.node(a.leader)!.produce({ ...key, acks: -1, batches: [batch(['m1', 'm2'])], timeoutMs: 2_000 })
    expect(await cluster.controller.electLeader(key)).toBe(false)
    const to = a.replicas.find((r) => r !== a.leader)!
    expect(await cluster.controller.electLeader({ ...key, to })).toBe(true)
    await cluster.until(async () => (await cluster!.node(to)!.status(key)).role === 'leader', 2_000, 'the move')
    await expect(cluster.node(a.leader)!.produce({ ...key, acks: -1, batches: [batch(['refused'])], timeoutMs: 500 })).rejects.toMatchObject({ code: 'NOT_LEADER_OR_FOLLOWER' })
    await cluster.node(to)!.produce({ ...key, acks: -1, batches: [batch(['m3'])], timeoutMs: 2_000 })
    // Back to the preferred (first) replica once it has caught up.
    await cluster.until(async () => (await assignment(cluster!, 't')).isr.length === 3, 2_000, 'the ISR')
    expect(await cluster.controller.electLeader(key)).toBe(true)
    await cluster.until(async () => (await cluster!.node(a.leader)!.status(key)).role === 'leader', 2_000, 'the move back')
    await cluster.node(a.leader)!.produce({ ...key, acks: -1, batches: [batch(['m4'])], timeoutMs: 2_000 })
    await cluster.until(async () => (await cluster!.node(to)!.status(key)).logEndOffset === 4, 2_000, 'the follower')
    for (const r of [0, 1, 2]) expect(values(await replicaRecords(cluster, r, a))).toEqual(['m1', 'm2', 'm3', 'm4'])
    expect((await replicaRecords(cluster, a.leader, a)).map((r) => r.epoch)).toEqual([0, 0, 1, 2])
  })

  it('ClusterBroker.electLeaders (kafka-leader-election --election-type PREFERRED): per partition, Kafka\'s answers', async () => {
    cluster = await startCluster()
    await createTopic(cluster, 't', { config: { 'min.insync.replicas': '2' } })
    const a = await assignment(cluster, 't')
    const admin = createClient(cluster.client()).admin()
    expect(await admin.electLeaders({ partitions: [{ topic: 't', partition: 0 }] })).toEqual([
      { topic: 't', partition: 0, errorCode: 84, error: expect.objectContaining({ code: 'ELECTION_NOT_NEEDED' }) },
    ])
    const to = a.replicas.find((r) => r !== a.leader)!
    expect(await cluster.controller.electLeader({ topicId: a.topicId, partition: 0, to })).toBe(true)
    expect(await admin.electLeaders({ partitions: [{ topic: 't', partition: 0 }, { topic: 't', partition: 9 }] })).toEqual([
      { topic: 't', partition: 0, errorCode: 0 },
      { topic: 't', partition: 9, errorCode: 3, error: expect.objectContaining({ code: 'UNKNOWN_TOPIC_OR_PARTITION' }) },
    ])
    expect((await assignment(cluster, 't')).leader).toBe(a.replicas[0])
  })

  it('fences a deposed leader: its writes are never acknowledged with acks=all, and back it truncates them at the epoch boundary (KIP-101)', async () => {
    cluster = await startCluster()
    await createTopic(cluster, 't', { config: { 'min.insync.replicas': '2' } })
    const a = await assignment(cluster, 't')
    const old = cluster.node(a.leader)!
    const key = { topicId: a.topicId, partition: 0 }
    await old.produce({ ...key, acks: -1, batches: [batch(['c1', 'c2'])], timeoutMs: 2_000 })
    // Cut off from the controller and its followers; clients still reach it.
    cluster.cut(a.leader, 'controller')
    for (const r of a.replicas) if (r !== a.leader) cluster.cut(a.leader, r)
    const [lonely] = await old.produce({ ...key, acks: 1, batches: [batch(['lost-1', 'lost-2', 'lost-3'])], timeoutMs: 1_000 })
    expect(lonely).toMatchObject({ baseOffset: 2 })
    const stuck = old.produce({ ...key, acks: -1, batches: [batch(['never'])], timeoutMs: 3_000 })
    await cluster.until(async () => (await assignment(cluster!, 't')).leaderEpoch === 1, 2_000, 'a new leader')
    const b = await assignment(cluster, 't')
    const fresh = cluster.node(b.leader)!
    await expect(fresh.replicaFetch({ ...key, replicaId: a.leader, leaderEpoch: 0, fetchOffset: 0, maxBytes: 1 << 20, maxWaitMs: 0 }))
      .rejects.toMatchObject({ code: 'FENCED_LEADER_EPOCH' })
    await fresh.produce({ ...key, acks: -1, batches: [batch(['n1'])], timeoutMs: 2_000 })
    // Its ISR change is refused: it cannot shrink the ISR to itself and acknowledge alone.
    await sleep(250)
    cluster.heal(a.leader, 'controller')
    for (const r of a.replicas) cluster.heal(a.leader, r)
    const [outcome] = await stuck
    expect(outcome).toHaveProperty('error')
    expect(['NOT_LEADER_OR_FOLLOWER', 'REQUEST_TIMED_OUT']).toContain((outcome as { error: { code: string } }).error.code)
    await cluster.until(async () => (await assignment(cluster!, 't')).isr.length === 3, 3_000, 'the old leader to rejoin')
    for (const r of [0, 1, 2]) expect(values(await replicaRecords(cluster, r, a))).toEqual(['c1', 'c2', 'n1'])
    expect((await replicaRecords(cluster, a.leader, a)).map((r) => r.epoch)).toEqual([0, 0, 1])
    expect(cluster.events).toContainEqual(expect.objectContaining({ kind: 'truncated', broker: a.leader, from: 2, records: 4 }))
    expect(cluster.events.some((e) => e.kind === 'committed-records-truncated')).toBe(false)
  })

  it('without unclean election, a partition whose whole ISR is down waits for it and loses nothing', async () => {
    cluster = await startCluster()
    await createTopic(cluster, 't', { config: { 'min.insync.replicas': '1' } })
    const a = await assignment(cluster, 't')
    const key = { topicId: a.topicId, partition: 0 }
    const followers = a.replicas.filter((r) => r !== a.leader)
    for (const f of followers) await cluster.stop(f)
    await cluster.until(async () => (await assignment(cluster!, 't')).isr.length === 1, 2_000, 'the ISR to shrink')
    await cluster.node(a.leader)!.produce({ ...key, acks: -1, batches: [batch(['only-on-leader'])], timeoutMs: 2_000 })
    await cluster.stop(a.leader)
    for (const f of followers) await cluster.restart(f)
    await cluster.until(async () => (await assignment(cluster!, 't')).leader === -1, 2_000, 'the partition to go offline')
    const client = cluster.client()
    const [refused] = await client.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch: batch(['x']) }] })
    expect(refused.error?.code).toBe('LEADER_NOT_AVAILABLE')
    expect(cluster.events).toContainEqual(expect.objectContaining({ kind: 'partition-offline' }))
    await cluster.restart(a.leader)
    await cluster.until(async () => (await assignment(cluster!, 't')).leader === a.leader, 2_000, 'the last ISR member to lead again')
    await cluster.until(async () => (await assignment(cluster!, 't')).isr.length === 3, 3_000, 'the followers to rejoin')
    for (const r of [0, 1, 2]) expect(values(await replicaRecords(cluster, r, a))).toEqual(['only-on-leader'])
  })

  it('with unclean.leader.election.enable, elects a replica outside the ISR and reports the records lost', async () => {
    cluster = await startCluster()
    await createTopic(cluster, 't', { config: { 'min.insync.replicas': '1', 'unclean.leader.election.enable': 'true' } })
    const a = await assignment(cluster, 't')
    const key = { topicId: a.topicId, partition: 0 }
    await cluster.node(a.leader)!.produce({ ...key, acks: -1, batches: [batch(['shared'])], timeoutMs: 2_000 })
    const followers = a.replicas.filter((r) => r !== a.leader)
    for (const f of followers) await cluster.stop(f)
    await cluster.until(async () => (await assignment(cluster!, 't')).isr.length === 1, 2_000, 'the ISR to shrink')
    const [acked] = await cluster.node(a.leader)!.produce({ ...key, acks: -1, batches: [batch(['acked-1', 'acked-2'])], timeoutMs: 2_000 })
    expect(acked).toMatchObject({ baseOffset: 1 })
    await cluster.stop(a.leader)
    await cluster.restart(followers[0])
    await cluster.until(async () => (await assignment(cluster!, 't')).leader === followers[0], 2_000, 'an unclean election')
    await cluster.until(() => cluster!.events.some((e) => e.kind === 'unclean-leader-election'), 2_000, 'the report')
    expect(cluster.events).toContainEqual(expect.objectContaining({ kind: 'unclean-leader-election', leader: followers[0], startOffset: 1 }))
    await cluster.node(followers[0])!.produce({ ...key, acks: -1, batches: [batch(['new'])], timeoutMs: 2_000 })
    // The old leader comes back and truncates two records it had counted as committed: reported.
    await cluster.restart(a.leader)
    await cluster.until(() => cluster!.events.some((e) => e.kind === 'committed-records-truncated'), 3_000, 'the truncation report')
    expect(cluster.events).toContainEqual(expect.objectContaining({ kind: 'committed-records-truncated', broker: a.leader, from: 1, highWatermark: 3, records: 2 }))
    await cluster.until(async () => values(await replicaRecords(cluster!, a.leader, a)).join() === 'shared,new', 3_000, 'the old leader to follow')
  })
})
