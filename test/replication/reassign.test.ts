/**
 * Partition reassignment (KIP-455) on the simulated cluster, through ClusterBroker and the
 * KafkaJS-shaped admin: the added replica copies the log (fetching, outside the ISR), joins the
 * ISR, and only then do the removed replicas go (the leader among them, handing over at epoch + 1);
 * nothing acknowledged is lost, and the removed broker's copy is deleted.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createClient } from '../../core/client/client.ts'
import type { SimCluster } from '../../core/replication/sim-cluster.ts'
import { assignment, createTopic, replicaRecords, startCluster, values } from './helpers.ts'

let cluster: SimCluster | undefined
afterEach(async () => { await cluster?.close(); cluster = undefined })

describe('replication: reassignment', () => {
  it('0,1,2 → 3,1,2: broker 3 catches up and joins the ISR, then the leader 0 goes; every record stays', async () => {
    cluster = await startCluster({ brokers: 4 })
    await createTopic(cluster, 't', { config: { 'min.insync.replicas': '2' } })
    const before = await assignment(cluster, 't')
    expect([before.replicas, before.leader]).toEqual([[0, 1, 2], 0])
    const kafka = createClient(cluster.client())
    const producer = kafka.producer({ idempotent: true })
    const sent = Array.from({ length: 20 }, (_, i) => `m${i}`)
    await producer.send({ topic: 't', acks: -1, messages: sent.map((value) => ({ value })) })
    const admin = kafka.admin()
    await admin.alterPartitionReassignments({ topics: [{ topic: 't', partitionAssignment: [{ partition: 0, replicas: [3, 1, 2] }] }] })
    await cluster.until(async () => (await assignment(cluster!, 't')).replicas.length === 3 && (await assignment(cluster!, 't')).replicas[0] === 3, 5_000, 'the reassignment')
    const after = await assignment(cluster, 't')
    expect([after.replicas, after.leader, after.leaderEpoch, after.adding, after.removing]).toEqual([[3, 1, 2], 3, 1, undefined, undefined])
    expect(await admin.listPartitionReassignments({})).toEqual({ topics: [] })
    expect(values(await replicaRecords(cluster, 3, after))).toEqual(sent)
    await cluster.until(async () => (await replicaRecords(cluster!, 0, before)).length === 0, 2_000, 'the removed copy deleted')
    await producer.send({ topic: 't', acks: -1, messages: [{ value: 'after' }] })
    const [latest] = await kafka.admin().fetchTopicOffsets('t')
    expect(latest.offset).toBe('21')
    await producer.disconnect()
  })

  it('bad input changes nothing; an unknown broker is INVALID_REPLICA_ASSIGNMENT; cancelling what is not in progress NO_REASSIGNMENT_IN_PROGRESS', async () => {
    cluster = await startCluster()
    await createTopic(cluster, 't')
    const admin = createClient(cluster.client()).admin()
    await expect(admin.alterPartitionReassignments({ topics: [{ topic: 't', partitionAssignment: [{ partition: 0, replicas: [0, 1, 7] }] }] })).rejects.toMatchObject({ code: 'INVALID_REPLICA_ASSIGNMENT' })
    await expect(admin.alterPartitionReassignments({ topics: [{ topic: 't', partitionAssignment: [{ partition: 0, replicas: [2, 1, 0] }, { partition: 3, replicas: [0] }] }] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    expect((await assignment(cluster, 't')).replicas).toEqual([0, 1, 2])
    await expect(admin.alterPartitionReassignments({ topics: [{ topic: 't', partitionAssignment: [{ partition: 0, replicas: null }] }] })).rejects.toMatchObject({ code: 'NO_REASSIGNMENT_IN_PROGRESS' })
  })
})
