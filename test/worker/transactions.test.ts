/**
 * Transactions at the edge (issue 21): KafkaJS's `producer.transaction()` through `edgelog/http`
 * against the real Worker in workerd, the coordinator a TransactionObject, markers written into
 * the partition objects, offsets completed in the group object.
 */
import { SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { connect } from '../../adapters/http/index.ts'
import { encodeBatch } from '../../core/codec/record-batch.ts'
import { activity, until } from './helpers.ts'

const BASE = 'http://127.0.0.1'
const open = () => connect({ url: BASE, fetch: (request: Request) => SELF.fetch(request) })
let n = 0
const unique = (p: string) => `${p}-${Date.now().toString(36)}-${n++}`

async function readAll(topic: string, isolation: 'read_committed' | 'read_uncommitted'): Promise<{ values: string[]; body: any; headers: Headers }> {
  const res = await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/records?offset=0&isolation=${isolation}`)
  expect(res.status).toBe(200)
  const body = await res.json<any>()
  return { values: body.records.map((r: any) => r.value), body, headers: res.headers }
}

describe('transactions at the edge', () => {
  it('commit and abort: read_committed sees only committed records, read_uncommitted all (never the markers)', async () => {
    const log = open()
    const topic = unique('out')
    await log.admin().createTopics({ topics: [{ topic, numPartitions: 1 }] })
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

    // t3 is open: read_committed stops at its first offset; read_uncommitted reads it.
    const during = await readAll(topic, 'read_committed')
    expect(during.values).toEqual(['a', 'b'])
    expect(during.headers.get('Edgelog-Last-Stable-Offset')).toBe('5')
    expect((await readAll(topic, 'read_uncommitted')).values).toEqual(['a', 'b', 'x', 'open'])
    await t3.commit()
    const after = await readAll(topic, 'read_committed')
    expect(after.values).toEqual(['a', 'b', 'open'])
    expect(JSON.parse(after.headers.get('Edgelog-Aborted-Transactions')!)).toEqual([expect.objectContaining({ firstOffset: 3 })])

    // A read_committed group consumer over HTTP gets the same.
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

  it('a second producer with the same transactional id fences the first and aborts its open transaction', async () => {
    const log = open()
    const topic = unique('fence')
    await log.admin().createTopics({ topics: [{ topic, numPartitions: 1 }] })
    const id = unique('tx')
    const first = log.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 })
    const t = await first.transaction()
    await t.send({ topic, messages: [{ value: 'zombie' }] })
    const second = log.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 })
    const t2 = await second.transaction()
    await expect(t.commit()).rejects.toMatchObject({ code: expect.stringMatching(/PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/) })
    await t2.send({ topic, messages: [{ value: 'live' }] })
    await t2.commit()
    expect((await readAll(topic, 'read_committed')).values).toEqual(['live'])
    await log.close()
  })

  it('sendOffsets: the group offsets move when the transaction commits, never on abort', async () => {
    const log = open()
    const input = unique('in')
    const output = unique('out')
    const groupId = unique('g')
    await log.admin().createTopics({ topics: [{ topic: input, numPartitions: 1 }, { topic: output, numPartitions: 1 }] })
    const producer = log.producer({ transactionalId: unique('tx'), idempotent: true, maxInFlightRequests: 1 })
    const offsetsOf = async () => (await log.admin().fetchOffsets({ groupId, topics: [input] }))[0].partitions[0].offset
    const aborted = await producer.transaction()
    await aborted.send({ topic: output, messages: [{ value: 'x' }] })
    await aborted.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: 0, offset: '5' }] }] })
    await aborted.abort()
    expect(await offsetsOf()).toBe('-1')
    const committed = await producer.transaction()
    await committed.send({ topic: output, messages: [{ value: 'y' }] })
    await committed.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: 0, offset: '7' }] }] })
    expect(await offsetsOf()).toBe('-1')
    await committed.commit()
    expect(await offsetsOf()).toBe('7')
    await log.close()
  })

  it('a read_committed long poll waits in the Worker: the object sleeps, an open transaction does not answer it, its commit does', async () => {
    const log = open()
    const topic = unique('poll')
    await log.admin().createTopics({ topics: [{ topic, numPartitions: 1 }] })
    const polling = SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/records?offset=0&maxWaitMs=20000&isolation=read_committed`)
    const idle = await until(() => activity(topic), (a) => a.watchers === 1)
    expect([idle.inFlight, idle.parked]).toEqual([0, 0])
    const producer = log.producer({ transactionalId: unique('tx'), idempotent: true, maxInFlightRequests: 1 })
    const txn = await producer.transaction()
    await txn.send({ topic, messages: [{ value: 'x' }] })
    // Woken by the append, it finds nothing committed and waits again (a new watch, still nothing parked).
    const rearmed = await until(() => activity(topic), (a) => a.watchers === 1 && a.requests > idle.requests + 1)
    expect(rearmed.parked).toBe(0)
    await txn.commit()
    const body = await (await polling).json<any>()
    expect(body.records.map((r: any) => r.value)).toEqual(['x'])
    await log.close()
  })

  it('refuses a transactional batch outside an ongoing transaction, storing nothing', async () => {
    const log = open()
    const topic = unique('late')
    await log.admin().createTopics({ topics: [{ topic, numPartitions: 1 }] })
    const id = unique('tx')
    const producer = log.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 })
    const t = await producer.transaction()
    await t.send({ topic, messages: [{ value: 'a' }] })
    await t.commit()
    const { producerId, producerEpoch } = await (await SELF.fetch(`${BASE}/v1/transactions/${id}/producer`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).json<any>()
    // A batch of the (new) epoch for a partition never added: INVALID_TXN_STATE, nothing stored.
    const batch = encodeBatch([{ key: null, value: 'late', timestamp: Date.now() }], { producerId, producerEpoch, baseSequence: 0, isTransactional: true })
    const res = await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/records?acks=-1&transactionalId=${id}`, { method: 'POST', body: batch, headers: { 'content-type': 'application/vnd.kafka.record-batch' } })
    expect(res.status).toBe(409)
    expect((await res.json<any>()).error.code).toBe('INVALID_TXN_STATE')
    // Without naming the transactional id at all: refused too.
    const unnamed = await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/records?acks=-1`, { method: 'POST', body: batch, headers: { 'content-type': 'application/vnd.kafka.record-batch' } })
    expect(unnamed.status).toBe(400)
    expect((await readAll(topic, 'read_uncommitted')).values).toEqual(['a'])
    await log.close()
  })
})
