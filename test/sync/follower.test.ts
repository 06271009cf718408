/**
 * A follower in process: a leader log and a replica log, each over its own memory store.
 * The replica holds the leader's batches at the leader's offsets, byte for byte.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { createClient, type EdgelogClient } from '../../core/client/client.ts'
import { EdgelogError } from '../../core/errors.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { Follower, type FollowerEvent } from '../../core/sync/follower.ts'
import type { Broker } from '../../core/broker.ts'

interface Setup { leader: LocalBroker; replica: LocalBroker; leaderClient: EdgelogClient; replicaClient: EdgelogClient; follower: Follower; events: FollowerEvent[] }
const open: Setup[] = []

afterEach(async () => {
  for (const s of open.splice(0)) {
    await s.follower.stop()
    await s.leaderClient.close()
    await s.replicaClient.close()
  }
})

async function setup(topics: Array<string | RegExp>, options: { leaderBroker?: (b: Broker) => Broker; replicaStorage?: MemoryStorage; leaderStorage?: MemoryStorage; discoveryIntervalMs?: number } = {}): Promise<Setup> {
  const leader = new LocalBroker({ storage: options.leaderStorage ?? new MemoryStorage() })
  const replica = new LocalBroker({ storage: options.replicaStorage ?? new MemoryStorage() })
  const follower = new Follower({
    leader: options.leaderBroker ? options.leaderBroker(leader) : leader, replicas: replica.replicas, source: 'leader',
    topics, maxWaitMs: 200, discoveryIntervalMs: options.discoveryIntervalMs ?? 100,
  })
  const events: FollowerEvent[] = []
  follower.on((e) => events.push(e))
  const s = { leader, replica, leaderClient: createClient(leader), replicaClient: createClient(replica), follower, events }
  open.push(s)
  return s
}

async function batchesOf(broker: Broker, topic: string, partition: number): Promise<Array<{ offset: number; crc: number; bytes: string }>> {
  const out: Array<{ offset: number; crc: number; bytes: string }> = []
  let offset = (await broker.listOffsets({ topic, partitions: [partition], spec: 'earliest' }))[0].offset
  for (;;) {
    const r = await broker.fetch({ topic, partition, offset, maxBytes: 1 << 20 })
    if (r.batches.length === 0) break
    for (const b of r.batches) {
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
      out.push({ offset: Number(view.getBigInt64(0)), crc: view.getUint32(17), bytes: Buffer.from(b).toString('base64') })
      offset = Number(view.getBigInt64(0)) + view.getInt32(23) + 1
    }
  }
  return out
}

const until = async (check: () => boolean | Promise<boolean>, ms = 10_000) => {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('follower', () => {
  it('copies the leader\'s batches at the leader\'s offsets, byte for byte, then follows live', async () => {
    const s = await setup(['orders'])
    await s.leaderClient.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 2 }] })
    const producer = s.leaderClient.producer({ idempotent: true })
    for (let i = 0; i < 20; i++) await producer.send({ topic: 'orders', messages: Array.from({ length: 500 }, (_, j) => ({ key: `k${j % 13}`, value: `order-${i}-${j}` })) })
    await s.follower.start()
    await s.follower.caughtUp()
    for (const p of [0, 1]) expect(await batchesOf(s.replica, 'orders', p)).toEqual(await batchesOf(s.leader, 'orders', p))
    const [meta] = await s.replica.metadata({ topics: ['orders'] })
    expect(meta.topicId).toBe((await s.leader.metadata({ topics: ['orders'] }))[0].topicId)
    // Live: new records reach the replica without asking.
    await producer.send({ topic: 'orders', messages: [{ value: 'late', partition: 1 }] })
    await until(async () => (await s.replica.listOffsets({ topic: 'orders', partitions: [1], spec: 'latest' }))[0].offset === (await s.leader.listOffsets({ topic: 'orders', partitions: [1], spec: 'latest' }))[0].offset)
    expect(await batchesOf(s.replica, 'orders', 1)).toEqual(await batchesOf(s.leader, 'orders', 1))
    const status = await s.follower.status()
    expect(status.state).toBe('online')
    expect(status.topics[0].partitions.every((p) => p.lag === 0 && p.syncedAt > 0)).toBe(true)
  })

  it('refuses local producers on a replica; local consumers and groups read it as any topic', async () => {
    const s = await setup(['t'])
    await s.leaderClient.admin().createTopics({ topics: [{ topic: 't' }] })
    await s.leaderClient.producer().send({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] })
    await s.follower.start()
    await s.follower.caughtUp()
    await expect(s.replicaClient.producer().send({ topic: 't', messages: [{ value: 'x' }] })).rejects.toMatchObject({ code: 'NOT_LEADER_OR_FOLLOWER' })
    const consumer = s.replicaClient.consumer({ groupId: 'g', maxWaitTimeInMs: 50, heartbeatInterval: 50 })
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    const seen: string[] = []
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(`${message.offset}:${message.value}`) } })
    await until(() => seen.length === 2)
    expect(seen).toEqual(['0:a', '1:b'])
    await consumer.disconnect()
  })

  it('resumes from the replica\'s own high watermark after a restart: nothing twice, nothing skipped', async () => {
    const replicaStorage = new MemoryStorage()
    const leaderStorage = new MemoryStorage()
    const first = await setup(['t'], { replicaStorage, leaderStorage })
    await first.leaderClient.admin().createTopics({ topics: [{ topic: 't' }] })
    const producer = first.leaderClient.producer()
    for (let i = 0; i < 5; i++) await producer.send({ topic: 't', messages: [{ value: `a${i}` }] })
    await first.follower.start()
    await first.follower.caughtUp()
    await first.follower.stop()
    for (let i = 0; i < 5; i++) await producer.send({ topic: 't', messages: [{ value: `b${i}` }] })
    const second = new Follower({ leader: first.leader, replicas: new LocalBroker({ storage: replicaStorage }).replicas, source: 'leader', topics: ['t'], maxWaitMs: 100 })
    await second.start()
    await second.caughtUp()
    await second.stop()
    const replica = new LocalBroker({ storage: replicaStorage })
    expect(await batchesOf(replica, 't', 0)).toEqual(await batchesOf(first.leader, 't', 0))
    await replica.close()
  })

  it('starts again at the leader\'s log start when the leader\'s retention passed the replica', async () => {
    const s = await setup(['t'])
    await s.leaderClient.admin().createTopics({ topics: [{ topic: 't', configEntries: [{ name: 'segment.bytes', value: '200' }, { name: 'retention.bytes', value: '400' }] }] })
    const producer = s.leaderClient.producer()
    await producer.send({ topic: 't', messages: [{ value: 'first'.padEnd(100, '.') }] })
    await s.follower.start()
    await s.follower.caughtUp()
    await s.follower.stop()
    for (let i = 0; i < 20; i++) await producer.send({ topic: 't', messages: [{ value: `r${i}`.padEnd(100, '.') }] })
    await s.leader.runMaintenance({ topic: 't' })
    const [{ offset: leaderStart }] = await s.leader.listOffsets({ topic: 't', partitions: [0], spec: 'earliest' })
    expect(leaderStart).toBeGreaterThan(1)
    const again = new Follower({ leader: s.leader, replicas: s.replica.replicas, source: 'leader', topics: ['t'], maxWaitMs: 100 })
    const events: FollowerEvent[] = []
    again.on((e) => events.push(e))
    await again.start()
    await again.caughtUp()
    await again.stop()
    expect(events).toContainEqual({ type: 'replica.reset', topic: 't', partition: 0, from: 1, to: leaderStart })
    expect(await batchesOf(s.replica, 't', 0)).toEqual(await batchesOf(s.leader, 't', 0))
  })

  it('stops with INCONSISTENT_TOPIC_ID when the topic is deleted and created again at the leader', async () => {
    const s = await setup(['t'])
    await s.leaderClient.admin().createTopics({ topics: [{ topic: 't' }] })
    await s.leaderClient.producer().send({ topic: 't', messages: [{ value: 'old' }] })
    await s.follower.start()
    await s.follower.caughtUp()
    await s.leaderClient.admin().deleteTopics({ topics: ['t'] })
    await s.leaderClient.admin().createTopics({ topics: [{ topic: 't' }] })
    await s.leaderClient.producer().send({ topic: 't', messages: [{ value: 'new-1' }, { value: 'new-2' }] })
    await until(() => s.events.some((e) => e.type === 'replica.stopped'))
    const stopped = s.events.find((e) => e.type === 'replica.stopped') as Extract<FollowerEvent, { type: 'replica.stopped' }>
    expect(stopped.error.code).toBe('INCONSISTENT_TOPIC_ID')
    const kept = await batchesOf(s.replica, 't', 0)
    expect(kept).toHaveLength(1)
  })

  it('follows partitions added at the leader, and topics matching a pattern', async () => {
    const s = await setup([/^metrics\./])
    await s.leaderClient.admin().createTopics({ topics: [{ topic: 'metrics.cpu' }, { topic: 'other' }] })
    await s.follower.start()
    await s.leaderClient.admin().createPartitions({ topicPartitions: [{ topic: 'metrics.cpu', count: 3 }] })
    await s.leaderClient.admin().createTopics({ topics: [{ topic: 'metrics.mem' }] })
    await s.leaderClient.producer().send({ topic: 'metrics.cpu', messages: [{ value: 'p2', partition: 2 }] })
    await s.leaderClient.producer().send({ topic: 'metrics.mem', messages: [{ value: 'm' }] })
    await until(async () => {
      const names = (await s.replica.metadata({})).map((m) => m.name).sort()
      if (names.join() !== 'metrics.cpu,metrics.mem') return false
      const [cpu] = await s.replica.listOffsets({ topic: 'metrics.cpu', partitions: [2], spec: 'latest' }).catch(() => [{ offset: 0 }])
      return cpu.offset === 1
    })
    expect((await s.replica.metadata({ topics: ['metrics.cpu'] }))[0].partitions).toHaveLength(3)
  })

  it('goes offline when the leader cannot be reached and catches up when it is back', async () => {
    let down = false
    const s = await setup(['t'], {
      leaderBroker: (leader) => new Proxy(leader, {
        get: (target, name, receiver) => {
          const value = Reflect.get(target, name, receiver)
          if (typeof value !== 'function') return value
          return (...args: unknown[]) => down ? Promise.reject(new EdgelogError('NETWORK_EXCEPTION', 'offline')) : value.apply(target, args)
        },
      }),
    })
    await s.leaderClient.admin().createTopics({ topics: [{ topic: 't' }] })
    await s.follower.start()
    down = true
    await s.leaderClient.producer().send({ topic: 't', messages: [{ value: 'while away' }] })
    await until(() => s.events.some((e) => e.type === 'offline'))
    expect((await s.follower.status()).state).toBe('offline')
    down = false
    await s.follower.caughtUp()
    expect(s.events.at(-1)?.type === 'online' || s.events.some((e) => e.type === 'online')).toBe(true)
    expect(await batchesOf(s.replica, 't', 0)).toEqual(await batchesOf(s.leader, 't', 0))
  })

  it('a local topic of the same name is never overwritten', async () => {
    const s = await setup(['t'])
    await s.leaderClient.admin().createTopics({ topics: [{ topic: 't' }] })
    await s.replicaClient.admin().createTopics({ topics: [{ topic: 't' }] })
    await s.replicaClient.producer().send({ topic: 't', messages: [{ value: 'mine' }] })
    await s.follower.start()
    const stopped = s.events.find((e) => e.type === 'replica.stopped') as Extract<FollowerEvent, { type: 'replica.stopped' }> | undefined
    expect(stopped?.error.code).toBe('INCONSISTENT_TOPIC_ID')
    expect(await batchesOf(s.replica, 't', 0)).toHaveLength(1)
  })
})
