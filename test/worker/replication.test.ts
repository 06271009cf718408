/**
 * Replication at the edge, inside workerd against the real Worker and objects (issue 16's edge
 * proof): topics with a replication factor, each replica its own PartitionObject; acks=all with
 * min.insync.replicas; the high watermark bounding reads; a follower made unreachable leaving
 * the ISR (NOT_ENOUGH_REPLICAS, nothing stored) and coming back; the leader made unreachable,
 * a new leader elected from the ISR at epoch + 1, the old one fenced, nothing acknowledged lost.
 * The fault switch is allowed by EDGELOG_TEST_REPLICA_FAULTS in vitest.config.mts, where
 * replica.lag.time.max.ms is 1 s.
 */
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { BASE, json as call, unique, until } from './helpers.ts'
import type { PartitionObject } from '../../worker/objects/partition.ts'
import { ReplicaHost } from '../../worker/replication/host.ts'
import { callReplica } from '../../worker/replication/protocol.ts'
import { nearestFollower } from '../../worker/replication/rack.ts'
import { DEFAULT_REPLICA_LOCATIONS, replicaLocations } from '../../worker/replication/placement.ts'
import type { PartitionAssignment } from '../../core/replication/types.ts'
import { decodeBatch, encodeBatch } from '../../core/codec/record-batch.ts'
import { Cluster } from '../../worker/cluster.ts'
import { replicatedFace } from '../../worker/replication/face.ts'
import { connect } from '../../adapters/http/index.ts'


async function create(partitions: number, rf: number, config: Record<string, string> = {}) {
  const name = unique('rep')
  const r = await call('POST', '/v1/topics', { topics: [{ topic: name, numPartitions: partitions, replicationFactor: rf, configEntries: Object.entries(config).map(([n, value]) => ({ name: n, value })) }] })
  expect(r.data.results).toEqual([{ topic: name, created: true }])
  return name
}

const describeTopic = async (topic: string) => (await call('GET', `/v1/topics/${topic}`)).data
const partitionOf = async (topic: string, p = 0) => (await describeTopic(topic)).partitions[p]
const produce = (topic: string, values: string[], acks: 'all' | '1') =>
  call('POST', `/v1/topics/${topic}/partitions/0/records?acks=${acks}`, { records: values.map((value) => ({ value })) })
const readAll = async (topic: string) => (await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`)).data

const stubOf = (stream: string, broker: number) => env.PARTITION.get(env.PARTITION.idFromName(`${stream}/r${broker}`))
const fault = (stream: string, broker: number, f: 'unreachable' | 'isolated' | null) => callReplica(stubOf(stream, broker), { op: 'fault', fault: f })
const statusOf = (stream: string, broker: number, assignment: PartitionAssignment) => callReplica(stubOf(stream, broker), { op: 'status', self: broker, assignment })

/** Every record one replica holds up to its log end (read below its own high watermark, so the leader's ISR must have it). */
async function valuesOn(stream: string, broker: number, assignment: PartitionAssignment): Promise<string[]> {
  const { batches } = await callReplica(stubOf(stream, broker), { op: 'read', self: broker, assignment, offset: 0, maxBytes: 1 << 20 })
  const decoded = await Promise.all(batches.map((b) => decodeBatch(b)))
  return decoded.flatMap((d) => d.records.map((r) => new TextDecoder().decode(r.value!)))
}

/** The controller's assignment of partition 0, as the Worker sees it (fresh). */
async function assignmentOf(topic: string): Promise<PartitionAssignment & { stream: string }> {
  const [meta] = (await call('POST', '/v1/metadata', { topics: [topic] })).data.topics
  const p = await partitionOf(topic)
  return {
    topic, topicId: meta.topicId, partition: 0, replicas: p.replicas, leader: p.leader, leaderEpoch: p.leaderEpoch, isr: p.isr,
    partitionEpoch: -1, config: meta.config, stream: `${meta.topicId}/0`,
  }
}

/** Waits (no time limit of its own: the test's) until `check` holds; the asynchronous parts are the ISR changes. */

describe('replicated topics at the edge', { timeout: 60_000 }, () => {
  it('kafka-topics --create --replication-factor 3: Leader, Replicas, Isr per partition in describe and metadata', async () => {
    const topic = await create(3, 3)
    const { partitions } = await describeTopic(topic)
    expect(partitions.map((p: any) => [p.leader, p.replicas, p.isr])).toEqual([
      [0, [0, 1, 2], [0, 1, 2]], [1, [1, 2, 3], [1, 2, 3]], [2, [2, 3, 4], [2, 3, 4]],
    ])
    const [meta] = (await call('POST', '/v1/metadata', { topics: [topic] })).data.topics
    expect(meta.partitions.map((p: any) => p.replicas)).toEqual([[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    // More replicas than regions (five by default) is Kafka's error; an unreplicated topic is as before.
    const tooMany = await call('POST', '/v1/topics', { topics: [{ topic: unique('rep'), replicationFactor: 6 }] })
    expect(tooMany.data.error.code).toBe('INVALID_REPLICATION_FACTOR')
    const plain = unique('plain')
    await call('POST', '/v1/topics', { name: plain, partitions: 1 })
    expect(Object.keys((await describeTopic(plain)).partitions[0]).sort()).toEqual(['highWatermark', 'logStartOffset', 'partition', 'segments', 'sizeBytes'])
  })

  it('acks=all answers when every ISR member has the batch: followers hold the leader\'s batches at its offsets', async () => {
    const topic = await create(1, 3, { 'min.insync.replicas': '2' })
    expect((await produce(topic, ['a', 'b'], 'all')).status).toBe(200)
    expect((await produce(topic, ['c'], 'all')).data.offsets[0].offset).toBe(2)
    const a = await assignmentOf(topic)
    const statuses = await Promise.all(a.replicas.map((b) => statusOf(a.stream, b, a)))
    expect(statuses.map((s) => [s.role, s.logEndOffset])).toEqual([['leader', 3], ['follower', 3], ['follower', 3]])
    expect(statuses[0].highWatermark).toBe(3)
    expect((await readAll(topic)).records.map((r: any) => r.value)).toEqual(['a', 'b', 'c'])
    const p = await partitionOf(topic)
    expect([p.highWatermark, p.isr]).toEqual([3, [0, 1, 2]])
  })

  it('consumers never read past the high watermark: a leader cut off from its followers keeps acks=1 records unreadable', async () => {
    const topic = await create(1, 3)
    await produce(topic, ['committed'], 'all')
    const a = await assignmentOf(topic)
    await fault(a.stream, a.leader, 'isolated')
    try {
      const r = await produce(topic, ['leader-only'], '1')
      expect(r.data.offsets[0].offset).toBe(1)
      const leader = await statusOf(a.stream, a.leader, a)
      expect([leader.logEndOffset, leader.highWatermark]).toEqual([2, 1])
      const read = await readAll(topic)
      expect(read.records.map((x: any) => x.value)).toEqual(['committed'])
      expect(read.highWatermark).toBe(1)
    } finally {
      await fault(a.stream, a.leader, null)
    }
  })

  it('a follower made unreachable leaves the ISR; min.insync.replicas=3 then refuses acks=all with nothing stored; back, it rejoins', async () => {
    const topic = await create(1, 3, { 'min.insync.replicas': '3' })
    await produce(topic, ['x0'], 'all')
    const a = await assignmentOf(topic)
    const follower = a.replicas[2]
    await fault(a.stream, follower, 'unreachable')
    try {
      // Appended while the ISR still had 3, answered once the ISR dropped the follower: after append.
      const during = await produce(topic, ['x1'], 'all')
      expect(during.data.error.code).toBe('NOT_ENOUGH_REPLICAS_AFTER_APPEND')
      const shrunk = await until(() => partitionOf(topic), (p) => p.isr.length === 2, 50_000, 100)
      expect(shrunk.isr).toEqual([a.replicas[0], a.replicas[1]])
      const before = await statusOf(a.stream, a.leader, a)
      const refused = await produce(topic, ['x2'], 'all')
      expect(refused.data.error.code).toBe('NOT_ENOUGH_REPLICAS')
      expect((await statusOf(a.stream, a.leader, a)).logEndOffset).toBe(before.logEndOffset)
      // acks=1 answers after the leader alone.
      expect((await produce(topic, ['x3'], '1')).status).toBe(200)
    } finally {
      await fault(a.stream, follower, null)
    }
    // Back: the next append reaches it, it catches up and the leader asks the controller to add it again.
    await produce(topic, ['x4'], '1')
    await until(() => partitionOf(topic), (p) => p.isr.length === 3, 50_000, 100)
    expect((await produce(topic, ['x5'], 'all')).status).toBe(200)
    const values = (await until(() => readAll(topic), (r) => r.records.length === 5, 50_000, 100)).records.map((r: any) => r.value)
    expect(values).toEqual(['x0', 'x1', 'x3', 'x4', 'x5'])
    expect((await statusOf(a.stream, follower, a)).logEndOffset).toBe(5)
  })

  it('the leader made unreachable: a new leader from the ISR at epoch + 1, the old one fenced, every acknowledged record kept', async () => {
    const topic = await create(1, 3, { 'min.insync.replicas': '2' })
    const acked: string[] = []
    for (let i = 0; i < 5; i++) {
      const r = await produce(topic, [`v${i}`, `w${i}`], 'all')
      expect(r.status).toBe(200)
      acked.push(`v${i}`, `w${i}`)
    }
    const a = await assignmentOf(topic)
    // First cut off from its followers only: it takes an acks=1 write nobody else has (Kafka: acks=1 promises the leader only).
    await fault(a.stream, a.leader, 'isolated')
    expect((await produce(topic, ['leader-only'], '1')).status).toBe(200)
    await fault(a.stream, a.leader, 'unreachable')
    const failed = await produce(topic, ['during'], 'all')
    expect(failed.data.error.code).toBe('LEADER_NOT_AVAILABLE')
    expect(failed.data.error.message).toMatch(/replica 1 leads now \(epoch 1\)/)
    const next = await partitionOf(topic)
    expect([next.leader, next.leaderEpoch, next.isr]).toEqual([a.replicas[1], 1, [a.replicas[1], a.replicas[2]]])
    const read = await until(() => readAll(topic), (r) => r.highWatermark >= acked.length, 50_000, 100)
    expect(read.records.map((r: any) => r.value)).toEqual(acked)
    expect((await produce(topic, ['after'], 'all')).status).toBe(200)
    // A push of the old epoch is refused by a follower: the deposed leader can acknowledge nothing.
    const stale = callReplica(stubOf(a.stream, a.replicas[2]), { op: 'push', self: a.replicas[2], push: { assignment: { ...a, partitionEpoch: 0 }, from: -1, batches: [], highWatermark: 0, logStartOffset: 0, logEndOffset: 0 } })
    await expect(stale).rejects.toMatchObject({ code: 'FENCED_LEADER_EPOCH' })
    // Back, the old leader follows the new one at its epoch, and rejoins the ISR.
    await fault(a.stream, a.leader, null)
    await produce(topic, ['back'], '1')
    await until(() => partitionOf(topic), (p) => p.isr.length === 3, 50_000, 100)
    const fresh = await assignmentOf(topic)
    const old = await statusOf(a.stream, a.leader, fresh)
    expect([old.role, old.leaderEpoch, old.logEndOffset]).toEqual(['follower', 1, acked.length + 2])
    // KIP-101: the old leader cut its log where epoch 0 ended on the new leader, dropping 'leader-only', then copied epoch 1.
    await until(() => statusOf(a.stream, a.leader, fresh), (s) => s.highWatermark === acked.length + 2, 50_000, 100)
    expect(await valuesOn(a.stream, a.leader, fresh)).toEqual([...acked, 'after', 'back'])
    expect((await readAll(topic)).records.map((r: any) => r.value)).toEqual([...acked, 'after', 'back'])
  })

  it('a long poll at the end of the log waits on the leader and answers with the next committed records', async () => {
    const topic = await create(1, 3)
    await produce(topic, ['first'], 'all')
    const waiting = call('GET', `/v1/topics/${topic}/partitions/0/records?offset=1&maxWaitMs=20000`)
    const tail = SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/tail?offset=1`)
    await produce(topic, ['late'], 'all')
    const answer = await waiting
    expect(answer.data.records.map((r: any) => r.value)).toEqual(['late'])
    expect(answer.data.highWatermark).toBe(2)
    const reader = (await tail).body!.getReader()
    let text = ''
    while (!text.includes('late')) text += new TextDecoder().decode((await reader.read()).value)
    await reader.cancel()
    // Tiered storage is not for replicated partitions: refused by name, typed.
    const refused = await call('GET', `/v1/topics/${topic}/partitions/0/tiers`)
    expect(refused.data.error.code).toBe('UNSUPPORTED_VERSION')
  })

  it('KIP-392: a reader in a follower\'s region (rackId) is answered by that in-sync follower, below its high watermark', async () => {
    const topic = await create(1, 3)
    await produce(topic, ['a'], 'all')
    await produce(topic, ['b'], 'all')
    const a = await assignmentOf(topic)
    // Replica 1 is in weur (EDGELOG_REPLICA_LOCATIONS' default enam,weur,apac,…); the leader, 0, is cut off.
    expect([a.leader, a.replicas[1]]).toEqual([0, 1])
    await fault(a.stream, a.leader, 'unreachable')
    try {
      const near = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0&rackId=weur`)
      expect(near.status).toBe(200)
      // Below the follower's high watermark: 'a' at least ('b' once the follower has heard it is committed).
      expect(near.data.records.map((r: any) => r.value)).toEqual(['a', 'b'].slice(0, near.data.records.length))
      expect(near.data.records.length).toBeGreaterThan(0)
      // Nobody asked the leader: no election took place.
      expect((await partitionOf(topic)).leaderEpoch).toBe(0)
    } finally {
      await fault(a.stream, a.leader, null)
    }
  })

  it('the whole ISR unreachable: offline (LEADER_NOT_AVAILABLE) until an ISR member answers, then it leads with every record', async () => {
    const topic = await create(1, 3)
    const a = await assignmentOf(topic)
    await fault(a.stream, 2, 'unreachable')
    // Replica 2 leaves the ISR after the lag time: 'gone' is committed on 0 and 1 only.
    expect((await produce(topic, ['kept'], 'all')).status).toBe(200)
    await until(() => partitionOf(topic), (p) => p.isr.length === 2, 50_000, 100)
    await fault(a.stream, 2, null)
    await fault(a.stream, 0, 'unreachable')
    await fault(a.stream, 1, 'unreachable')
    try {
      // Replica 2 answers, but it is not in the ISR: no unclean election (the topic does not allow it).
      expect((await produce(topic, ['x'], 'all')).data.error.code).toBe('LEADER_NOT_AVAILABLE')
      expect((await partitionOf(topic)).leader).toBe(-1)
      expect((await produce(topic, ['y'], 'all')).data.error.code).toBe('LEADER_NOT_AVAILABLE')
      await fault(a.stream, 1, null)
      // The next request finds ISR member 1 back: it leads.
      const retried = await produce(topic, ['z'], 'all')
      expect(retried.data.error.code).toBe('LEADER_NOT_AVAILABLE')
      const p = await partitionOf(topic)
      // Replica 0 left the ISR with its leadership; replica 2 may already be back in it (1 pushed it 'kept').
      expect([p.leader, p.leaderEpoch, p.isr.includes(0)]).toEqual([1, 2, false])
      expect((await produce(topic, ['after'], 'all')).status).toBe(200)
      expect((await readAll(topic)).records.map((r: any) => r.value)).toEqual(['kept', 'after'])
    } finally {
      await fault(a.stream, 0, null)
    }
  })

  it('unclean.leader.election.enable: an out-of-ISR replica leads when the ISR is gone (the records it lacks are lost, as Kafka documents)', async () => {
    const topic = await create(1, 3, { 'unclean.leader.election.enable': 'true' })
    const a = await assignmentOf(topic)
    await produce(topic, ['old'], 'all')
    await fault(a.stream, 2, 'unreachable')
    expect((await produce(topic, ['only-on-0-and-1'], 'all')).status).toBe(200)
    await until(() => partitionOf(topic), (p) => p.isr.length === 2, 50_000, 100)
    await fault(a.stream, 2, null)
    await fault(a.stream, 0, 'unreachable')
    await fault(a.stream, 1, 'unreachable')
    try {
      expect((await produce(topic, ['x'], 'all')).data.error.code).toBe('LEADER_NOT_AVAILABLE')
      const p = await partitionOf(topic)
      expect([p.leader, p.leaderEpoch, p.isr]).toEqual([2, 1, [2]])
      expect((await produce(topic, ['new'], 'all')).status).toBe(200)
      expect((await readAll(topic)).records.map((r: any) => r.value)).toEqual(['old', 'new'])
      // Reported, never silent: the new leader says where its log became the truth and what it knew committed.
      const { events } = await statusOf(a.stream, 2, { ...a, partitionEpoch: -1 })
      const unclean = events.filter((e) => e.kind === 'unclean-leader-election')
      expect(unclean).toMatchObject([{ kind: 'unclean-leader-election', topic, partition: 0, leader: 2, leaderEpoch: 1, startOffset: 1 }])
      // What it knew committed: 'old' at most (the high watermark reaches a follower with the next push).
      expect((unclean[0] as { highWatermark: number }).highWatermark).toBeLessThanOrEqual(1)
    } finally {
      await fault(a.stream, 0, null)
      await fault(a.stream, 1, null)
    }
  })

  it('min.insync.replicas altered on a replicated topic reaches the leader at once; partitions added get replicas; deleting the topic drops every replica', async () => {
    const topic = await create(1, 3)
    expect((await produce(topic, ['a'], 'all')).status).toBe(200)
    expect((await call('PATCH', `/v1/topics/${topic}`, { config: { 'min.insync.replicas': '4' } })).status).toBe(200)
    expect((await produce(topic, ['b'], 'all')).data.error.code).toBe('NOT_ENOUGH_REPLICAS')
    expect((await call('PATCH', `/v1/topics/${topic}`, { config: { 'min.insync.replicas': '3' } })).status).toBe(200)
    expect((await produce(topic, ['c'], 'all')).status).toBe(200)
    // Partitions added later get replicas too, round-robin on from theirs.
    expect((await call('PATCH', `/v1/topics/${topic}`, { partitions: 3 })).status).toBe(200)
    expect((await describeTopic(topic)).partitions.map((p: any) => p.replicas)).toEqual([[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    expect((await call('POST', `/v1/topics/${topic}/partitions/2/records?acks=all`, { records: [{ value: 'p2' }] })).data.offsets).toEqual([{ partition: 2, offset: 0 }])
    const a = await assignmentOf(topic)
    expect((await call('DELETE', `/v1/topics/${topic}`)).status).toBe(200)
    for (const b of a.replicas) await expect(statusOf(a.stream, b, a)).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' })
  })

  it('replica objects restarted (memory gone, storage kept): the leader relearns its followers\' ends before serving reads', async () => {
    const topic = await create(1, 3, { 'min.insync.replicas': '2' })
    for (const v of ['a', 'b', 'c']) expect((await produce(topic, [v], 'all')).status).toBe(200)
    const a = await assignmentOf(topic)
    // As after an eviction: a fresh host over the same SQLite (the leader never checkpointed its high watermark).
    for (const b of a.replicas) await runInDurableObject(stubOf(a.stream, b), (obj: PartitionObject) => { (obj as unknown as { replicaHost?: unknown }).replicaHost = undefined })
    expect((await readAll(topic)).records.map((r: any) => r.value)).toEqual(['a', 'b', 'c'])
    expect((await produce(topic, ['d'], 'all')).status).toBe(200)
    const statuses = await Promise.all(a.replicas.map((b) => statusOf(a.stream, b, a)))
    expect(statuses.map((s) => [s.role, s.leaderEpoch, s.logEndOffset])).toEqual([['leader', 0, 4], ['follower', 0, 4], ['follower', 0, 4]])
  })

  it('the unchanged KafkaJS-shaped client rides through an election: an idempotent acks=all producer retries on the new leader, a group reads each record once', async () => {
    const log = connect({ url: BASE, fetch: (request: Request) => SELF.fetch(request) })
    const topic = unique('client')
    await log.admin().createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }] })
    const producer = log.producer({ idempotent: true })
    await producer.connect()
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 20 }, (_, i) => ({ value: `m${i}` })) })
    const a = await assignmentOf(topic)
    await fault(a.stream, a.leader, 'unreachable')
    try {
      await producer.send({ topic, acks: -1, messages: Array.from({ length: 20 }, (_, i) => ({ value: `m${20 + i}` })) })
      expect((await partitionOf(topic)).leaderEpoch).toBe(1)
      const consumer = log.consumer({ groupId: unique('readers'), maxWaitTimeInMs: 200, heartbeatInterval: 200 } as never)
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      const seen: string[] = []
      await new Promise<void>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => { seen.push(new TextDecoder().decode(message.value!)); if (seen.length === 40) resolve() } })
      })
      expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => `m${i}`))
      await consumer.disconnect()
    } finally {
      await producer.disconnect()
      await fault(a.stream, a.leader, null)
      await log.close()
    }
  })

  it('nearest replica by rack: a named region, or the Worker\'s continent; never the leader\'s own region, never out of the ISR', () => {
    const locations = [...DEFAULT_REPLICA_LOCATIONS] // enam, weur, apac, wnam, eeur
    const a = { replicas: [0, 1, 2], leader: 0, isr: [0, 1, 2] } as PartitionAssignment
    expect(nearestFollower(a, locations, 'weur')).toBe(1)
    expect(nearestFollower(a, locations, 'continent:EU')).toBe(1)
    expect(nearestFollower(a, locations, 'continent:OC')).toBe(2) // oc absent: apac next
    expect(nearestFollower(a, locations, 'continent:NA')).toBeUndefined() // the leader is in enam
    expect(nearestFollower({ ...a, isr: [0, 2] }, locations, 'weur')).toBeUndefined()
    expect(nearestFollower(a, locations, undefined)).toBeUndefined()
    expect(replicaLocations({ EDGELOG_REPLICA_LOCATIONS: 'weur, eeur' })).toEqual(['weur', 'eeur'])
    expect(() => replicaLocations({ EDGELOG_REPLICA_LOCATIONS: 'weur,mars' })).toThrow(/location hints/)
  })

  it('a method a replicated partition does not have is refused typed, never a TypeError', async () => {
    const topic = await create(1, 3)
    const a = await assignmentOf(topic)
    const face = replicatedFace(new Cluster(env), { ...a, partitionEpoch: 0 }) as { tiers: (...args: unknown[]) => Promise<any> }
    expect((await face.tiers({ topic, partition: 0 }, false)).error.code).toBe('UNSUPPORTED_VERSION')
  })

  it('every replica runs retention on its own log from its alarm, armed by its appends', async () => {
    const topic = await create(1, 3, { 'segment.bytes': '200', 'retention.bytes': '200' })
    for (let i = 0; i < 8; i++) expect((await produce(topic, [`record-${i}-`.padEnd(60, 'x')], 'all')).status).toBe(200)
    const a = await assignmentOf(topic)
    const before = await Promise.all(a.replicas.map((b) => statusOf(a.stream, b, a)))
    expect(before.map((s) => s.logStartOffset)).toEqual([0, 0, 0])
    for (const b of a.replicas) expect(await runDurableObjectAlarm(stubOf(a.stream, b))).toBe(true)
    const after = await Promise.all(a.replicas.map((b) => statusOf(a.stream, b, a)))
    for (const s of after) {
      expect(s.logStartOffset).toBeGreaterThan(0)
      expect(s.logEndOffset).toBe(8)
    }
    expect((await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`)).data.error.code).toBe('OFFSET_OUT_OF_RANGE')
  })

  it('the fault switch is refused unless EDGELOG_TEST_REPLICA_FAULTS=true', async () => {
    const stub = env.PARTITION.get(env.PARTITION.idFromName(unique('faults')))
    await runInDurableObject(stub, async (obj: PartitionObject, state) => {
      const host = new ReplicaHost(state, { ...env, EDGELOG_TEST_REPLICA_FAULTS: undefined }, obj.storage)
      await expect(host.handle({ op: 'fault', fault: 'unreachable' })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    })
  })
})
