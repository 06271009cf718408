/**
 * The operator's tools on replicated topics at the edge, in workerd against the real Worker and
 * objects: describeCluster with a broker per region, preferred-leader election (Kafka's
 * kafka-leader-election --election-type PREFERRED) and partition reassignment (KIP-455:
 * the added replicas copy the log and join the ISR before the removed ones go), over HTTP and
 * through the KafkaJS-shaped admin.
 */
import { env, runDurableObjectAlarm, SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { BASE, json as call, unique, until } from './helpers.ts'
import { callReplica } from '../../worker/replication/protocol.ts'
import { DEFAULT_REPLICA_LOCATIONS } from '../../worker/replication/placement.ts'
import type { PartitionAssignment } from '../../core/replication/types.ts'
import { decodeBatch } from '../../core/codec/record-batch.ts'
import { connect } from '../../adapters/http/index.ts'


async function create(rf: number, config: Record<string, string> = {}, partitions = 1) {
  const name = unique('ra')
  const r = await call('POST', '/v1/topics', { topics: [{ topic: name, numPartitions: partitions, replicationFactor: rf, configEntries: Object.entries(config).map(([n, value]) => ({ name: n, value })) }] })
  expect(r.data.results).toEqual([{ topic: name, created: true }])
  return name
}

const partitionOf = async (topic: string, p = 0) => (await call('GET', `/v1/topics/${topic}`)).data.partitions[p]
const produce = (topic: string, values: string[], acks: 'all' | '1' = 'all') =>
  call('POST', `/v1/topics/${topic}/partitions/0/records?acks=${acks}`, { records: values.map((value) => ({ value })) })
const readAll = async (topic: string) => (await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`)).data
const stubOf = (stream: string, broker: number) => env.PARTITION.get(env.PARTITION.idFromName(`${stream}/r${broker}`))

async function assignmentOf(topic: string): Promise<PartitionAssignment & { stream: string }> {
  const [meta] = (await call('POST', '/v1/metadata', { topics: [topic] })).data.topics
  const p = await partitionOf(topic)
  return {
    topic, topicId: meta.topicId, partition: 0, replicas: p.replicas, leader: p.leader, leaderEpoch: p.leaderEpoch, isr: p.isr,
    partitionEpoch: -1, config: meta.config, stream: `${meta.topicId}/0`,
  }
}

async function valuesOn(stream: string, broker: number, assignment: PartitionAssignment): Promise<string[]> {
  const { batches } = await callReplica(stubOf(stream, broker), { op: 'read', self: broker, assignment, offset: 0, maxBytes: 1 << 20 })
  const decoded = await Promise.all(batches.map((b) => decodeBatch(b)))
  return decoded.flatMap((d) => d.records.map((r) => new TextDecoder().decode(r.value!)))
}

/** Waits (no time limit of its own: the test's) until `check` holds: ISR changes and the reassignment's completion are asynchronous. */

describe('replica tools at the edge', { timeout: 60_000 }, () => {
  it('describeCluster lists a broker per region: node id = broker index, host = location hint', async () => {
    const { data } = await call('GET', '/v1/cluster')
    expect(data.brokers).toEqual(DEFAULT_REPLICA_LOCATIONS.map((host, nodeId) => ({ nodeId, host, port: 443 })))
    expect(data.controller).toBe(0)
  })

  it('a reorder completes at once; the preferred-leader election then moves the leader, and every record stays', async () => {
    const topic = await create(3, { 'min.insync.replicas': '2' })
    expect((await produce(topic, ['a', 'b'])).status).toBe(200)
    // Same replicas, another preferred leader: nothing to copy, done in one step (the leader stays until elected).
    const moved = await call('POST', '/v1/partition-reassignments', { topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [1, 0, 2] }] }] })
    expect(moved).toEqual({ status: 200, data: { partitions: [{ topic, partition: 0 }] } })
    const p = await partitionOf(topic)
    expect([p.leader, p.leaderEpoch, p.replicas]).toEqual([0, 0, [1, 0, 2]])
    expect((await call('GET', '/v1/partition-reassignments')).data.topics.filter((t: any) => t.topic === topic)).toEqual([])

    const elected = await call('POST', '/v1/elect-leaders', { electionType: 'PREFERRED', partitions: [{ topic, partition: 0 }] })
    expect(elected).toEqual({ status: 200, data: { partitions: [{ topic, partition: 0 }] } })
    const after = await partitionOf(topic)
    expect([after.leader, after.leaderEpoch, after.isr]).toEqual([1, 1, [0, 1, 2]])
    // The old leader was told at once: it follows at epoch 1.
    const a = await assignmentOf(topic)
    expect(await callReplica(stubOf(a.stream, 0), { op: 'status', self: 0, assignment: a })).toMatchObject({ role: 'follower', leaderEpoch: 1 })
    expect((await produce(topic, ['c'])).data.offsets[0].offset).toBe(2)
    expect((await until(() => readAll(topic), (r) => r.records.length === 3, 50_000, 100)).records.map((r: any) => r.value)).toEqual(['a', 'b', 'c'])

    // Kafka's answers: the preferred replica leads already; an election type other than PREFERRED; an unknown partition.
    const again = await call('POST', '/v1/elect-leaders', { partitions: [{ topic, partition: 0 }] })
    expect([again.status, again.data.error.code]).toEqual([409, 'ELECTION_NOT_NEEDED'])
    expect((await call('POST', '/v1/elect-leaders', { electionType: 'UNCLEAN', partitions: [{ topic, partition: 0 }] })).data.error.code).toBe('INVALID_REQUEST')
    expect((await call('POST', '/v1/elect-leaders', { partitions: [{ topic, partition: 7 }] })).data.error.code).toBe('UNKNOWN_TOPIC_OR_PARTITION')
  })

  it('the preferred replica out of the ISR is PREFERRED_LEADER_NOT_AVAILABLE and nothing changes', async () => {
    const topic = await create(3, { 'min.insync.replicas': '2' })
    await produce(topic, ['x'])
    await call('POST', '/v1/partition-reassignments', { topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [2, 0, 1] }] }] })
    const a = await assignmentOf(topic)
    await callReplica(stubOf(a.stream, 2), { op: 'fault', fault: 'unreachable' })
    try {
      await produce(topic, ['y'])
      await until(() => partitionOf(topic), (p) => !p.isr.includes(2), 50_000, 100)
      const refused = await call('POST', '/v1/elect-leaders', { partitions: [{ topic, partition: 0 }] })
      expect(refused.data.error.code).toBe('PREFERRED_LEADER_NOT_AVAILABLE')
      expect((await partitionOf(topic)).leader).toBe(0)
    } finally {
      await callReplica(stubOf(a.stream, 2), { op: 'fault', fault: null })
    }
  })

  it('reassignment to other regions: the new replicas copy the log and join the ISR, then the old ones (the leader among them) go', async () => {
    const topic = await create(3, { 'min.insync.replicas': '2' })
    const acked: string[] = []
    for (let i = 0; i < 4; i++) {
      expect((await produce(topic, [`v${i}`, `w${i}`])).status).toBe(200)
      acked.push(`v${i}`, `w${i}`)
    }
    const before = await assignmentOf(topic)
    // 3 and 4 are added; 0 (the leader) and 2 are removed. The admin client (edgelog/http) speaks KafkaJS's shape.
    const client = connect({ url: BASE, fetch: (request: Request) => SELF.fetch(request) })
    const admin = client.admin()
    await admin.alterPartitionReassignments({ topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [1, 3, 4] }] }] })
    // Done when the leader's AlterPartition brought 3 and 4 into the ISR (no append needed: the leader pushes at once).
    const done = await until(() => partitionOf(topic), (p) => p.replicas.length === 3 && p.replicas.includes(3), 50_000, 100)
    expect([done.replicas, done.leader, done.leaderEpoch]).toEqual([[1, 3, 4], 1, 1])
    expect(done.isr.slice().sort()).toEqual([1, 3, 4])
    expect(await admin.listPartitionReassignments({ topics: [{ topic, partitions: [0] }] })).toEqual({ topics: [] })
    const a = await assignmentOf(topic)
    for (const b of [3, 4]) expect(await until(() => valuesOn(a.stream, b, a), (v) => v.length === acked.length, 50_000, 100)).toEqual(acked)
    expect((await produce(topic, ['after'])).status).toBe(200)
    expect((await until(() => readAll(topic), (r) => r.records.length === acked.length + 1, 50_000, 100)).records.map((r: any) => r.value)).toEqual([...acked, 'after'])
    // The removed replicas were stopped: their rows are gone, and the old assignment does not bring them back.
    for (const b of [0, 2]) {
      await expect(callReplica(stubOf(before.stream, b), { op: 'read', self: b, assignment: { ...before, partitionEpoch: 0 }, offset: 0, maxBytes: 1 << 20 }))
        .rejects.toMatchObject({ code: 'NOT_LEADER_OR_FOLLOWER' })
    }
    await client.close()
  })

  it('a replica reassigned away while unreachable is stopped later, from the controller\'s alarm', async () => {
    const topic = await create(3)
    await produce(topic, ['s'])
    const before = await assignmentOf(topic)
    await callReplica(stubOf(before.stream, 2), { op: 'fault', fault: 'unreachable' })
    try {
      // 2 goes, 3 comes: the reassignment completes once 3 is in sync, but 2 cannot be told to stop.
      await call('POST', '/v1/partition-reassignments', { topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [0, 1, 3] }] }] })
      await until(() => partitionOf(topic), (p) => p.replicas.join() === '0,1,3', 50_000, 100)
    } finally {
      await callReplica(stubOf(before.stream, 2), { op: 'fault', fault: null })
    }
    // Normally still holding its rows until the controller's retry; a stop already in flight
    // when the fault was lifted may have landed first (then there is nothing left to retry).
    const held = await callReplica(stubOf(before.stream, 2), { op: 'status', self: 2, assignment: before }).then((s) => s.logEndOffset, (e: { code?: string }) => e)
    if (typeof held === 'number') {
      expect(held).toBe(1)
      const controller = env.CONTROLLER.get(env.CONTROLLER.idFromName('controller'))
      expect(await runDurableObjectAlarm(controller)).toBe(true)
    } else {
      expect(held).toMatchObject({ code: 'NOT_LEADER_OR_FOLLOWER' })
    }
    await expect(callReplica(stubOf(before.stream, 2), { op: 'read', self: 2, assignment: { ...before, partitionEpoch: 0 }, offset: 0, maxBytes: 1 << 20 }))
      .rejects.toMatchObject({ code: 'NOT_LEADER_OR_FOLLOWER' })
  })

  it('a reassignment in progress is listed with its adding and removing replicas, and can be cancelled', async () => {
    const topic = await create(2)
    await produce(topic, ['p'])
    const a = await assignmentOf(topic)
    // Replica 3 cannot be reached: it cannot catch up, the reassignment stays in progress.
    await callReplica(stubOf(a.stream, 3), { op: 'fault', fault: 'unreachable' })
    try {
      const started = await call('POST', '/v1/partition-reassignments', { topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [0, 3] }] }] })
      expect(started.status).toBe(200)
      const listed = await call('GET', `/v1/partition-reassignments?topic=${topic}`)
      expect(listed.data).toEqual({ topics: [{ topic, partitions: [{ partition: 0, replicas: [0, 3, 1], addingReplicas: [3], removingReplicas: [1] }] }] })
      const during = await partitionOf(topic)
      expect([during.replicas, during.isr]).toEqual([[0, 3, 1], [0, 1]])
      // Writes go on meanwhile, the ISR (0, 1) committing them.
      expect((await produce(topic, ['q'])).status).toBe(200)
      const cancelled = await call('POST', '/v1/partition-reassignments', { topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: null }] }] })
      expect(cancelled.status).toBe(200)
      const back = await partitionOf(topic)
      expect([back.replicas, back.isr, back.leader]).toEqual([[0, 1], [0, 1], 0])
      const none = await call('POST', '/v1/partition-reassignments', { topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: null }] }] })
      expect(none.data.error.code).toBe('NO_REASSIGNMENT_IN_PROGRESS')
    } finally {
      await callReplica(stubOf(a.stream, 3), { op: 'fault', fault: null })
    }
    expect((await readAll(topic)).records.map((r: any) => r.value)).toEqual(['p', 'q'])
  })

  it('bad input changes nothing: one bad entry refuses the whole request; factor-1 topics stay on broker 0', async () => {
    const topic = await create(3)
    const bad = async (replicas: unknown, code: string) => {
      const r = await call('POST', '/v1/partition-reassignments', { topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [2, 1, 0] }, { partition: 0, replicas }] }] })
      expect(r.data.error.code).toBe(code)
    }
    await bad([0, 0, 1], 'INVALID_REQUEST') // partition 0 listed twice comes first
    const one = async (replicas: unknown) => (await call('POST', '/v1/partition-reassignments', { topics: [{ topic, partitionAssignment: [{ partition: 0, replicas }] }] })).data.error?.code
    expect(await one([0, 0, 1])).toBe('INVALID_REPLICA_ASSIGNMENT')
    expect(await one([0, 5])).toBe('INVALID_REPLICA_ASSIGNMENT')
    expect(await one([])).toBe('INVALID_REPLICA_ASSIGNMENT')
    expect(await one('0,1')).toBe('INVALID_REPLICA_ASSIGNMENT')
    const mixed = await call('POST', '/v1/partition-reassignments', { topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [2, 1, 0] }, { partition: 1, replicas: [0] }] }] })
    expect(mixed.data.error.code).toBe('UNKNOWN_TOPIC_OR_PARTITION')
    expect((await partitionOf(topic)).replicas).toEqual([0, 1, 2])

    const plain = unique('plain')
    await call('POST', '/v1/topics', { name: plain, partitions: 1 })
    expect((await call('POST', '/v1/partition-reassignments', { topics: [{ topic: plain, partitionAssignment: [{ partition: 0, replicas: [0] }] }] })).status).toBe(200)
    expect((await call('POST', '/v1/partition-reassignments', { topics: [{ topic: plain, partitionAssignment: [{ partition: 0, replicas: [0, 1] }] }] })).data.error.code).toBe('INVALID_REPLICATION_FACTOR')
    expect((await call('POST', '/v1/elect-leaders', { partitions: [{ topic: plain, partition: 0 }] })).data.error.code).toBe('ELECTION_NOT_NEEDED')
  })
})
