/**
 * DeleteRecords and transactions on replicated topics at the edge, in workerd against the real
 * Worker and objects: the leader moves its log start and pushes it to the followers; a
 * transaction's batches and its coordinator's markers are appended by the leader and
 * replicated like any batch; read_committed stops at min(high watermark, last stable offset),
 * on the leader and on a follower (KIP-392), with the aborted transactions.
 */
import { env, SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { BASE, json as call, unique, until } from './helpers.ts'
import { connect } from '../../adapters/http/index.ts'
import type { PartitionAssignment } from '../../core/replication/types.ts'
import { callReplica } from '../../worker/replication/protocol.ts'

const open = () => connect({ url: BASE, fetch: (request: Request) => SELF.fetch(request) })


async function create(config: Record<string, string> = {}) {
  const topic = unique('rt')
  const r = await call('POST', '/v1/topics', { topics: [{ topic, numPartitions: 1, replicationFactor: 3, configEntries: Object.entries(config).map(([name, value]) => ({ name, value })) }] })
  expect(r.data.results).toEqual([{ topic, created: true }])
  return topic
}

const stubOf = (stream: string, broker: number) => env.PARTITION.get(env.PARTITION.idFromName(`${stream}/r${broker}`))
async function assignmentOf(topic: string): Promise<PartitionAssignment & { stream: string }> {
  const [meta] = (await call('POST', '/v1/metadata', { topics: [topic] })).data.topics
  const p = (await call('GET', `/v1/topics/${topic}`)).data.partitions[0]
  return { topic, topicId: meta.topicId, partition: 0, replicas: p.replicas, leader: p.leader, leaderEpoch: p.leaderEpoch, isr: p.isr, partitionEpoch: -1, config: meta.config, stream: `${meta.topicId}/0` }
}
const read = async (topic: string, isolation: 'read_committed' | 'read_uncommitted', offset = 0) => {
  const res = await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/records?offset=${offset}&isolation=${isolation}`)
  return { status: res.status, data: (await res.json()) as any, headers: res.headers }
}
const values = (r: { data: any }) => r.data.records.map((x: any) => x.value)


describe('DeleteRecords and transactions on replicated topics', { timeout: 60_000 }, () => {
  it('DeleteRecords: the leader moves its log start, every follower has it when the answer comes; bad offsets change nothing', async () => {
    const topic = await create({ 'min.insync.replicas': '2' })
    for (let i = 0; i < 6; i++) expect((await call('POST', `/v1/topics/${topic}/partitions/0/records?acks=all`, { records: [{ value: `v${i}` }] })).status).toBe(200)
    const past = await call('POST', `/v1/topics/${topic}/delete-records`, { partitions: [{ partition: 0, offset: 7 }] })
    expect(past.data.error.code).toBe('OFFSET_OUT_OF_RANGE')
    const done = await call('POST', `/v1/topics/${topic}/delete-records`, { partitions: [{ partition: 0, offset: 3 }] })
    expect(done.data).toEqual({ partitions: [{ partition: 0, lowWatermark: 3 }] })
    const a = await assignmentOf(topic)
    const starts = await Promise.all(a.replicas.map((b) => callReplica(stubOf(a.stream, b), { op: 'status', self: b, assignment: a })))
    expect(starts.map((s) => s.logStartOffset)).toEqual([3, 3, 3])
    expect((await read(topic, 'read_uncommitted')).data.error.code).toBe('OFFSET_OUT_OF_RANGE')
    expect(values(await read(topic, 'read_uncommitted', 3))).toEqual(['v3', 'v4', 'v5'])
    // -1: the high watermark; a follower that was unreachable learns the log start from the next push.
    await callReplica(stubOf(a.stream, 2), { op: 'fault', fault: 'unreachable' })
    try {
      expect((await call('POST', `/v1/topics/${topic}/delete-records`, { partitions: [{ partition: 0, offset: -1 }] })).data.partitions[0].lowWatermark).toBe(6)
    } finally {
      await callReplica(stubOf(a.stream, 2), { op: 'fault', fault: null })
    }
    await call('POST', `/v1/topics/${topic}/partitions/0/records?acks=1`, { records: [{ value: 'after' }] })
    await until(() => callReplica(stubOf(a.stream, 2), { op: 'status', self: 2, assignment: a }), (s) => s.logStartOffset === 6 && s.logEndOffset === 7, 50_000, 100)
    expect(values(await read(topic, 'read_uncommitted', 6))).toEqual(['after'])

    const compact = await create({ 'cleanup.policy': 'compact' })
    await call('POST', `/v1/topics/${compact}/partitions/0/records?acks=all`, { records: [{ key: 'k', value: 'v' }] })
    expect((await call('POST', `/v1/topics/${compact}/delete-records`, { partitions: [{ partition: 0, offset: 1 }] })).data.error.code).toBe('POLICY_VIOLATION')
  })

  it('transactions: markers from the leader reach every replica; read_committed stops at min(HW, LSO), with the aborted transactions, on leader and follower', async () => {
    const topic = await create({ 'min.insync.replicas': '2' })
    const log = open()
    const producer = log.producer({ transactionalId: unique('tx'), idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const t1 = await producer.transaction()
    await t1.send({ topic, messages: [{ value: 'a' }, { value: 'b' }] })
    await t1.commit()
    const t2 = await producer.transaction()
    await t2.send({ topic, messages: [{ value: 'x' }] })
    await t2.abort()
    const t3 = await producer.transaction()
    await t3.send({ topic, messages: [{ value: 'open' }] })

    // t3 open: read_committed stops at its first offset (5: a, b, commit, x, abort).
    const during = await read(topic, 'read_committed')
    expect(values(during)).toEqual(['a', 'b'])
    expect(during.headers.get('Edgelog-Last-Stable-Offset')).toBe('5')
    expect(values(await read(topic, 'read_uncommitted'))).toEqual(['a', 'b', 'x', 'open'])
    const [latest] = await log.broker.listOffsets({ topic, partitions: [0], spec: 'latest', isolationLevel: 1 })
    expect(latest.offset).toBe(5)
    await t3.commit()
    const after = await read(topic, 'read_committed')
    expect(values(after)).toEqual(['a', 'b', 'open'])
    expect(JSON.parse(after.headers.get('Edgelog-Aborted-Transactions')!)).toEqual([expect.objectContaining({ firstOffset: 3 })])

    // Every replica holds the three markers at the leader's offsets, and a follower's read_committed view is the leader's.
    const a = await assignmentOf(topic)
    const ends = await until(() => Promise.all(a.replicas.map((b) => callReplica(stubOf(a.stream, b), { op: 'status', self: b, assignment: a }))), (s) => s.every((x) => x.highWatermark === 7), 50_000, 100)
    expect(ends.map((s) => s.logEndOffset)).toEqual([7, 7, 7])
    const follower = await callReplica(stubOf(a.stream, 1), { op: 'read', self: 1, assignment: a, offset: 0, maxBytes: 1 << 20, isolationLevel: 1 })
    expect(follower.lastStableOffset).toBe(7)
    expect(follower.abortedTransactions).toEqual([expect.objectContaining({ firstOffset: 3 })])
    // The control bit (attributes 0x20): the follower copied the leader's three markers.
    expect(follower.batches.filter((b) => (b[22] & 0x20) !== 0)).toHaveLength(3)

    // A read_committed group consumer reads the committed records once.
    const consumer = log.consumer({ groupId: unique('g'), maxWaitTimeInMs: 100, heartbeatInterval: 200 } as never)
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    const seen: string[] = []
    await new Promise<void>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => { seen.push(String(message.value)); if (seen.length === 3) resolve() } })
    })
    expect(seen).toEqual(['a', 'b', 'open'])
    await consumer.disconnect()
    await producer.disconnect()
    await log.close()
  })
})
