/**
 * Sync in process: a log that follows a leader produces to followed topics through its
 * outbox; the forwarder delivers exactly once, in order, through lost answers, restarts and
 * refusals; the records come back through the replica at the leader's offsets.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { createClient, type EdgelogClient } from '../../core/client/client.ts'
import { openLog } from '../../core/open-log.ts'
import { EdgelogError, type ErrorCode } from '../../core/errors.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { decodeBatch } from '../../core/codec/record-batch.ts'
import type { Broker } from '../../core/broker.ts'
import type { SyncEvent } from '../../core/sync/sync.ts'

const closers: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of closers.splice(0).reverse()) await c().catch(() => {}) })

/** The leader, reached through a link that can lose answers, fail requests or refuse tokens. */
function leaderWithLink() {
  const broker = new LocalBroker({ storage: new MemoryStorage() })
  const link = { loseAnswers: 0, down: false, refuse: undefined as ErrorCode | undefined, produces: 0 }
  const linked = new Proxy(broker, {
    get: (target, name, receiver) => {
      const value = Reflect.get(target, name, receiver)
      if (typeof value !== 'function') return value
      return async (...args: unknown[]) => {
        if (link.down) throw new EdgelogError('NETWORK_EXCEPTION', 'offline')
        if (link.refuse) throw new EdgelogError(link.refuse, 'refused')
        const result = await value.apply(target, args)
        if (name === 'produce') {
          link.produces++
          if (link.loseAnswers > 0) { link.loseAnswers--; throw new EdgelogError('NETWORK_EXCEPTION', 'the answer was lost') }
        }
        return result
      }
    },
  }) as Broker
  const client = createClient(broker)
  closers.push(() => client.close())
  return { broker, linked, link, client }
}

async function follower(leader: Broker, storage = new MemoryStorage(), topics: Array<string | RegExp> = ['orders']) {
  const events: SyncEvent[] = []
  const log = await openLog({ storage, follow: { leader, source: 'edge', topics, maxWaitMs: 100, discoveryIntervalMs: 200, onEvent: (e) => events.push(e) } })
  closers.push(() => log.close())
  return { log, storage, events }
}

async function values(broker: Broker, topic: string, partition: number): Promise<Array<{ offset: number; value: string }>> {
  const out: Array<{ offset: number; value: string }> = []
  let offset = 0
  for (;;) {
    const r = await broker.fetch({ topic, partition, offset, maxBytes: 1 << 20 })
    if (r.batches.length === 0) break
    for (const b of r.batches) for (const rec of (await decodeBatch(b)).records) if (rec.offset >= offset) out.push({ offset: rec.offset, value: new TextDecoder().decode(rec.value!) })
    offset = out.at(-1)!.offset + 1
  }
  return out
}

async function produceMany(log: EdgelogClient, prefix: string, sends: number, perSend: number) {
  const producer = log.producer({ idempotent: true })
  const metadata = []
  for (let i = 0; i < sends; i++) {
    metadata.push(...await producer.send({ topic: 'orders', messages: Array.from({ length: perSend }, (_, j) => ({ value: `${prefix}-${i}-${j}`, partition: j % 2 })) }))
  }
  return metadata
}

describe('sync: produce to a followed topic', { timeout: 30_000 }, () => {
  it('waits in the outbox, reaches the leader once and in order, and comes back at the leader\'s offsets', async () => {
    const leader = leaderWithLink()
    await leader.client.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 2 }] })
    await leader.client.producer().send({ topic: 'orders', messages: [{ value: 'from-edge', partition: 0 }] })
    const { log } = await follower(leader.linked)
    leader.link.down = true
    const metadata = await produceMany(log, 'offline', 10, 10)
    expect(metadata.every((m) => m.pending && m.baseOffset === '-1')).toBe(true)
    expect(await log.sync.pending()).toHaveLength(100)
    expect((await log.sync.status()).outbox.waiting).toBe(100)
    leader.link.down = false
    const delivered = await log.sync.delivered(metadata, 10_000)
    await log.sync.flush(10_000)
    const p0 = await values(leader.broker, 'orders', 0)
    const p1 = await values(leader.broker, 'orders', 1)
    expect(p0.map((r) => r.value)).toEqual(['from-edge', ...Array.from({ length: 10 }, (_, i) => Array.from({ length: 5 }, (_, k) => `offline-${i}-${k * 2}`)).flat()])
    expect(p1.map((r) => r.value)).toEqual(Array.from({ length: 10 }, (_, i) => Array.from({ length: 5 }, (_, k) => `offline-${i}-${k * 2 + 1}`)).flat())
    // The offsets delivered() answers hold those records at the leader.
    for (const [i, m] of delivered.entries()) {
      const stored = (m.partition === 0 ? p0 : p1).find((r) => r.offset === Number(m.baseOffset))
      // Each send answers for partition 0 then 1; its first record there is `offline-<send>-<partition>`.
      expect(stored?.value).toBe(`offline-${Math.floor(i / 2)}-${m.partition}`)
    }
    // And they come back through the replica, at the leader's offsets.
    await expect.poll(async () => (await values(log.broker, 'orders', 1)).length, { timeout: 5_000 }).toBe(50)
    await expect.poll(async () => values(log.broker, 'orders', 0), { timeout: 5_000 }).toEqual(p0)
    expect(await log.sync.pending()).toEqual([])
  })

  it('stores each record once at the leader when answers are lost', async () => {
    const leader = leaderWithLink()
    await leader.client.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 2 }] })
    const { log } = await follower(leader.linked)
    leader.link.loseAnswers = 6
    await produceMany(log, 'lossy', 8, 6)
    await log.sync.flush(15_000)
    expect(leader.link.produces).toBeGreaterThan(6)
    const all = [...await values(leader.broker, 'orders', 0), ...await values(leader.broker, 'orders', 1)].map((r) => r.value)
    expect(all).toHaveLength(48)
    expect(new Set(all).size).toBe(48)
  })

  it('resumes after a restart with the same sequences: nothing doubled', async () => {
    const leader = leaderWithLink()
    await leader.client.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 2 }] })
    // A store that outlives the log on it (IndexedDB across a reload).
    const storage = new MemoryStorage()
    storage.close = async () => {}
    const first = await follower(leader.linked, storage)
    // Stored at the leader, answer lost; then the page closes before it learns more.
    leader.link.loseAnswers = 1
    await produceMany(first.log, 'a', 3, 4)
    await expect.poll(() => leader.link.produces, { timeout: 5_000 }).toBeGreaterThan(0)
    leader.link.down = true
    await first.log.close()
    leader.link.down = false
    const second = await follower(leader.linked, storage)
    await produceMany(second.log, 'b', 2, 4)
    await second.log.sync.flush(10_000)
    const all = [...await values(leader.broker, 'orders', 0), ...await values(leader.broker, 'orders', 1)].map((r) => r.value)
    expect(all.sort()).toEqual([...Array.from({ length: 3 }, (_, i) => Array.from({ length: 4 }, (_, j) => `a-${i}-${j}`)), ...Array.from({ length: 2 }, (_, i) => Array.from({ length: 4 }, (_, j) => `b-${i}-${j}`))].flat().sort())
  })

  it('moves a record the leader refuses for good aside, with its typed error, and goes on', async () => {
    const leader = leaderWithLink()
    await leader.client.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 1 }] })
    const { log, events } = await follower(leader.linked)
    // The leader's limit changes after the replica copied its config: only the leader can refuse.
    await leader.client.admin().alterConfigs({ resources: [{ type: 2, name: 'orders', configEntries: [{ name: 'max.message.bytes', value: '2000' }] }] })
    const producer = log.producer({ idempotent: true })
    const [ok1] = await producer.send({ topic: 'orders', messages: [{ value: 'small-1' }] })
    const [big] = await producer.send({ topic: 'orders', messages: [{ value: 'x'.repeat(5_000) }] })
    const [ok2] = await producer.send({ topic: 'orders', messages: [{ value: 'small-2' }] })
    await log.sync.flush(10_000)
    expect((await values(leader.broker, 'orders', 0)).map((r) => r.value)).toEqual(['small-1', 'small-2'])
    const dead = await log.sync.deadLetters()
    expect(dead).toHaveLength(1)
    expect(dead[0].error.code).toBe('MESSAGE_TOO_LARGE')
    expect(events.some((e) => e.type === 'dead-letter')).toBe(true)
    await expect(log.sync.delivered([big], 1_000)).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' })
    const [d1, d2] = await log.sync.delivered([ok1, ok2], 1_000)
    expect([d1.baseOffset, d2.baseOffset]).toEqual(['0', '1'])
  })

  it('pauses on a refused token and resumes once requests succeed again', async () => {
    const leader = leaderWithLink()
    await leader.client.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 1 }] })
    const { log } = await follower(leader.linked)
    leader.link.refuse = 'UNAUTHENTICATED'
    await log.producer().send({ topic: 'orders', messages: [{ value: 'while refused' }] })
    await expect.poll(async () => (await log.sync.status()).error?.code, { timeout: 5_000 }).toBe('UNAUTHENTICATED')
    leader.link.refuse = undefined
    await log.sync.flush(30_000)
    expect((await values(leader.broker, 'orders', 0)).map((r) => r.value)).toEqual(['while refused'])
  })

  it('a producer the leader forgot: what it stored before is found there, not sent again', async () => {
    let now = Date.now()
    const broker = new LocalBroker({ storage: new MemoryStorage(), now: () => now, settings: { 'producer.id.expiration.ms': 1_000 } })
    const client = createClient(broker)
    closers.push(() => client.close())
    await client.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 1 }] })
    let loseAnswers = false
    const link = new Proxy(broker, {
      get: (target, name, receiver) => {
        const value = Reflect.get(target, name, receiver)
        if (typeof value !== 'function') return value
        return async (...args: unknown[]) => {
          const result = await value.apply(target, args)
          if (name === 'produce' && loseAnswers) throw new EdgelogError('NETWORK_EXCEPTION', 'answer lost')
          return result
        }
      },
    }) as Broker
    const storage = new MemoryStorage()
    storage.close = async () => {}
    const first = await follower(link, storage)
    loseAnswers = true
    await first.log.producer({ idempotent: true }).send({ topic: 'orders', messages: [{ value: 'a' }, { value: 'b' }] })
    await first.log.producer({ idempotent: true }).send({ topic: 'orders', messages: [{ value: 'c' }] })
    // Stored at the leader; the answers lost; the page closes before it learns it.
    await expect.poll(async () => (await values(broker, 'orders', 0)).length, { timeout: 5_000 }).toBe(3)
    await first.log.close()
    // A day later (here: past producer.id.expiration.ms) the leader has forgotten the producer.
    now += 10_000
    await broker.runMaintenance({ topic: 'orders' })
    loseAnswers = false
    const second = await follower(link, storage)
    await second.log.producer({ idempotent: true }).send({ topic: 'orders', messages: [{ value: 'd' }] })
    await second.log.sync.flush(10_000)
    expect((await values(broker, 'orders', 0)).map((r) => r.value)).toEqual(['a', 'b', 'c', 'd'])
  })

  it('refuses to produce to a followed topic never synced (LEADER_NOT_AVAILABLE), instead of creating a local one', async () => {
    const leader = leaderWithLink()
    leader.link.down = true
    const { log } = await follower(leader.linked)
    await expect(log.producer().send({ topic: 'orders', messages: [{ value: 'x' }] })).rejects.toMatchObject({ code: 'LEADER_NOT_AVAILABLE' })
    expect(await log.admin().listTopics()).toEqual([])
  })
})
