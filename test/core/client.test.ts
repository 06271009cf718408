import { afterEach, describe, expect, it } from 'vitest'
import { createClient, decodeRecords, EdgelogError, encodeBatch, openLog, murmur2, toPositive, type EdgelogClient, type KafkaMessage } from '../../core/index.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'

let log: EdgelogClient
afterEach(async () => { await log?.close() })

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('the CONTRACTS.md example, in process', () => {
  it('creates topics, produces, consumes through a group, and describes it', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    const admin = log.admin()
    expect(await admin.createTopics({ topics: [{ topic: 'email', numPartitions: 3 }] })).toBe(true)
    expect(await admin.createTopics({ topics: [{ topic: 'email', numPartitions: 3 }] })).toBe(false)
    await admin.createPartitions({ topicPartitions: [{ topic: 'email', count: 4 }] })
    expect(await admin.listTopics()).toEqual(['email'])
    const metadata = await admin.fetchTopicMetadata({ topics: ['email'] })
    expect(metadata.topics[0].partitions.map((p) => p.partitionId)).toEqual([0, 1, 2, 3])

    const producer = log.producer({ idempotent: true })
    await producer.connect()
    const sent = await producer.send({ topic: 'email', messages: [{ key: 'u1', value: 'hi', headers: { h: 'v' } }] })
    const expectedPartition = toPositive(murmur2(new TextEncoder().encode('u1'))) % 4
    expect(sent).toEqual([{ topicName: 'email', partition: expectedPartition, errorCode: 0, baseOffset: '0', logAppendTime: '-1', logStartOffset: '0' }])
    const offsets = await admin.fetchTopicOffsets('email')
    expect(offsets.find((o) => o.partition === expectedPartition)).toEqual({ partition: expectedPartition, offset: '1', high: '1', low: '0' })

    const consumer = log.consumer({ groupId: 'mailer', heartbeatInterval: 50, maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topics: ['email'], fromBeginning: true })
    const seen: Array<{ topic: string; partition: number; message: KafkaMessage }> = []
    await consumer.run({ eachMessage: async (payload) => { seen.push(payload) } })
    await until(() => seen.length === 1)
    const { message } = seen[0]
    expect(seen[0]).toMatchObject({ topic: 'email', partition: expectedPartition })
    expect(message.offset).toBe('0')
    expect(message.key?.toString()).toBe('u1')
    expect(message.value?.toString()).toBe('hi')
    expect(message.headers.h?.toString()).toBe('v')
    expect(message.value).toBeInstanceOf(Uint8Array)
    expect(Number(message.timestamp)).toBeGreaterThan(0)

    const { groups } = await admin.describeGroups(['mailer'])
    expect(groups[0]).toMatchObject({ groupId: 'mailer', state: 'Stable' })
    expect(groups[0].members).toHaveLength(1)
    expect(groups[0].members[0].memberAssignment).toEqual({ email: [0, 1, 2, 3] })
    expect(typeof groups[0].protocol).toBe('string')

    await until(async () => {
      const [committed] = await admin.fetchOffsets({ groupId: 'mailer', topics: ['email'] })
      return committed.partitions.find((p) => p.partition === expectedPartition)?.offset === '1'
    })
    await consumer.disconnect()
    await admin.deleteTopics({ topics: ['email'] })
    expect(await admin.listTopics()).toEqual([])
  })
})

describe('producer', () => {
  it('keyed records go to murmur2(key) % partitions, as the Java client sends them', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 7 }] })
    const producer = log.producer()
    const keys = Array.from({ length: 50 }, (_, i) => `key-${i}`)
    const results = await Promise.all(keys.map((key) => producer.send({ topic: 't', messages: [{ key, value: 'v' }] })))
    results.forEach(([r], i) => expect(r.partition).toBe(toPositive(murmur2(new TextEncoder().encode(keys[i]))) % 7))
  })

  it('keyless records of one send stay together (sticky) and later sends move on', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 3 }] })
    const producer = log.producer()
    const first = await producer.send({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] })
    expect(first).toHaveLength(1)
    const partitions = new Set<number>()
    for (let i = 0; i < 6; i++) partitions.add((await producer.send({ topic: 't', messages: [{ value: 'x' }] }))[0].partition)
    expect(partitions.size).toBe(3)
  })

  it('bad messages are INVALID_RECORD and nothing of the send is stored', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    const producer = log.producer()
    await expect(producer.send({ topic: 't', messages: [{ value: 'ok' }, { value: 42 as any }] })).rejects.toMatchObject({ code: 'INVALID_RECORD' })
    await expect(producer.send({ topic: 't', messages: [{ value: 'ok', partition: 5 }] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    await expect(producer.send({ topic: 'bad name!', messages: [{ value: 'x' }] })).rejects.toMatchObject({ code: 'INVALID_TOPIC_EXCEPTION' })
    expect((await log.admin().fetchTopicOffsets('t'))[0].high).toBe('0')
  })

  it('lingerMs gathers concurrent sends into one batch, each send learning its own offset', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    const producer = log.producer({ lingerMs: 20 })
    const sends = await Promise.all(['a', 'b', 'c'].map((value) => producer.send({ topic: 't', messages: [{ value }] })))
    expect(sends.map(([r]) => r.baseOffset)).toEqual(['0', '1', '2'])
    const [state] = await log.admin().describePartitions('t')
    expect(state.segments[0].batches).toBe(1)
  })

  it('a send bigger than maxBatchBytes is split into batches with contiguous offsets', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    const producer = log.producer({ maxBatchBytes: 1000, idempotent: true })
    const messages = Array.from({ length: 100 }, (_, i) => ({ value: `v${i}`.padEnd(50, '.') }))
    const [result] = await producer.send({ topic: 't', messages })
    expect(result.baseOffset).toBe('0')
    const [state] = await log.admin().describePartitions('t')
    expect(state.highWatermark).toBe(100)
    expect(state.segments[0].batches).toBeGreaterThan(5)
  })

  it('gzip-compressed sends are stored and read back', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    await log.producer().send({ topic: 't', compression: 1, messages: [{ value: 'compressed '.repeat(20) }] })
    const consumer = log.consumer({ maxWaitTimeInMs: 50 })
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    const values: string[] = []
    await consumer.run({ eachMessage: async ({ message }) => { values.push(message.value!.toString()) } })
    await until(() => values.length === 1)
    expect(values[0]).toBe('compressed '.repeat(20))
  })
})

describe('admin', () => {
  it('rejects bad topic names, partition decreases and bad configs with Kafka error names', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    const admin = log.admin()
    for (const topic of ['', '.', '..', 'a b', 'x'.repeat(250), 'ü']) {
      await expect(admin.createTopics({ topics: [{ topic }] })).rejects.toMatchObject({ code: 'INVALID_TOPIC_EXCEPTION' })
    }
    await admin.createTopics({ topics: [{ topic: 't', numPartitions: 3 }] })
    await expect(admin.createPartitions({ topicPartitions: [{ topic: 't', count: 2 }] })).rejects.toMatchObject({ code: 'INVALID_PARTITIONS' })
    await expect(admin.createPartitions({ topicPartitions: [{ topic: 't', count: 3 }] })).rejects.toMatchObject({ code: 'INVALID_PARTITIONS' })
    await expect(admin.createTopics({ topics: [{ topic: 'u', numPartitions: 0 }] })).rejects.toMatchObject({ code: 'INVALID_PARTITIONS' })
    await expect(admin.createTopics({ topics: [{ topic: 'u', configEntries: [{ name: 'retention.ms', value: 'soon' }] }] })).rejects.toMatchObject({ code: 'INVALID_CONFIG' })
    await expect(admin.createTopics({ topics: [{ topic: 'u', configEntries: [{ name: 'no.such', value: '1' }] }] })).rejects.toMatchObject({ code: 'INVALID_CONFIG' })
    await expect(admin.deleteTopics({ topics: ['missing'] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    expect(await admin.listTopics()).toEqual(['t'])
    expect((await admin.fetchTopicMetadata({ topics: ['t'] })).topics[0].partitions).toHaveLength(3)
  })

  it('describes and alters topic configs', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    const admin = log.admin()
    await admin.createTopics({ topics: [{ topic: 't', configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] })
    await admin.alterConfigs({ resources: [{ type: 2, name: 't', configEntries: [{ name: 'retention.ms', value: '1000' }] }] })
    const { resources } = await admin.describeConfigs({ resources: [{ type: 2, name: 't', configNames: ['cleanup.policy', 'retention.ms'] }] })
    expect(resources[0].configEntries.map((e) => [e.configName, e.configValue])).toEqual([['retention.ms', '1000'], ['cleanup.policy', 'compact']])
  })

  it('honours delete.topic.enable=false and auto.create.topics.enable=false', async () => {
    log = await openLog({ storage: new MemoryStorage(), settings: { 'delete.topic.enable': false, 'auto.create.topics.enable': false } })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    await expect(log.admin().deleteTopics({ topics: ['t'] })).rejects.toMatchObject({ code: 'TOPIC_DELETION_DISABLED' })
    await expect(log.producer().send({ topic: 'other', messages: [{ value: 'x' }] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' })
  })

  it('a deleted and re-created topic starts empty', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    const admin = log.admin()
    await admin.createTopics({ topics: [{ topic: 't' }] })
    await log.producer().send({ topic: 't', messages: [{ value: 'old' }] })
    await admin.deleteTopics({ topics: ['t'] })
    await admin.createTopics({ topics: [{ topic: 't' }] })
    expect(await admin.fetchTopicOffsets('t')).toEqual([{ partition: 0, offset: '0', high: '0', low: '0' }])
  })

  it('finds offsets by timestamp', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    const admin = log.admin()
    await admin.createTopics({ topics: [{ topic: 't' }] })
    const producer = log.producer()
    for (let i = 0; i < 5; i++) await producer.send({ topic: 't', messages: [{ value: `v${i}`, timestamp: String(1000 + i) }] })
    expect(await admin.fetchTopicOffsetsByTimestamp('t', 1002)).toEqual([{ partition: 0, offset: '2' }])
    expect(await admin.fetchTopicOffsetsByTimestamp('t', 5000)).toEqual([{ partition: 0, offset: '5' }])
  })
})

describe('consumer without a group', () => {
  it('reads every partition from where it is told (seek), in offset order per partition', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 2 }] })
    const producer = log.producer()
    for (let i = 0; i < 10; i++) await producer.send({ topic: 't', messages: [{ value: `v${i}`, partition: i % 2 }] })
    const consumer = log.consumer({ maxWaitTimeInMs: 50 })
    await consumer.subscribe({ topics: ['t'] })
    consumer.seek({ topic: 't', partition: 0, offset: '2' })
    consumer.seek({ topic: 't', partition: 1, offset: '4' })
    const seen: Record<number, string[]> = { 0: [], 1: [] }
    await consumer.run({ eachMessage: async ({ partition, message }) => { seen[partition].push(message.offset) } })
    await until(() => seen[0].length === 3 && seen[1].length === 1)
    expect(seen).toEqual({ 0: ['2', '3', '4'], 1: ['4'] })
    await producer.send({ topic: 't', messages: [{ value: 'new', partition: 1 }] })
    await until(() => seen[1].length === 2)
    expect(seen[1]).toEqual(['4', '5'])
    await consumer.disconnect()
  })
})

describe('idempotent producer retries', () => {
  it('a send whose answer was lost is retried and stored once, even when it spans many batches', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    const broker = log.broker
    let lose = 2
    const lossy = Object.create(broker) as typeof broker
    lossy.produce = async (req) => {
      const results = await broker.produce(req)
      if (lose-- > 0) throw new EdgelogError('NETWORK_EXCEPTION', 'the answer was lost')
      return results
    }
    const producer = createClient(lossy, { onClose: async () => {} }).producer({ idempotent: true, maxBatchBytes: 300, retry: { retries: 5, initialRetryTime: 1 } })
    const messages = Array.from({ length: 60 }, (_, i) => ({ value: `value-${i}`.padEnd(40, '.') }))
    await producer.send({ topic: 't', messages })
    await producer.send({ topic: 't', messages: [{ value: 'after' }] })
    const [state] = await log.admin().describePartitions('t')
    expect(state.highWatermark).toBe(61)
    expect(state.segments[0].batches).toBeGreaterThan(5)
  })
})

describe('admin changes are all or nothing', () => {
  it('createPartitions with one bad entry changes no topic', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    const admin = log.admin()
    await admin.createTopics({ topics: [{ topic: 'a', numPartitions: 2 }, { topic: 'b', numPartitions: 3 }] })
    await expect(admin.createPartitions({ topicPartitions: [{ topic: 'a', count: 4 }, { topic: 'b', count: 2 }] })).rejects.toMatchObject({ code: 'INVALID_PARTITIONS' })
    await expect(admin.createPartitions({ topicPartitions: [{ topic: 'a', count: 4 }, null as any] })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    await expect(log.broker.listOffsets({ topic: 'a', partitions: 'x' as any, spec: 'latest' })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    const { topics } = await admin.fetchTopicMetadata({ topics: ['a', 'b'] })
    expect(topics.map((t) => t.partitions.length)).toEqual([2, 3])
  })
})

describe('an idempotent producer outlives its expired state', () => {
  it('takes a new producer id when the log forgot it, and goes on without loss or duplicates', async () => {
    let now = Date.now()
    log = await openLog({ storage: new MemoryStorage(), now: () => now, settings: { 'producer.id.expiration.ms': 1_000 } })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    const producer = log.producer({ idempotent: true, retry: { retries: 3, initialRetryTime: 1 } })
    await producer.send({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] })
    now += 5_000
    await log.admin().runMaintenance({ topic: 't' })
    const [result] = await producer.send({ topic: 't', messages: [{ value: 'c' }] })
    expect(result.baseOffset).toBe('2')
    await producer.send({ topic: 't', messages: [{ value: 'd' }] })
    expect((await log.admin().fetchTopicOffsets('t'))[0].high).toBe('4')
  })
})

describe('bytes handed out are the reader\'s own', () => {
  it('a handler that mutates or transfers message.value changes nothing stored', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    await log.producer().send({ topic: 't', messages: [{ value: 'hello' }, { value: 'world' }] })
    const read = async (groupId: string, handle: (v: Uint8Array) => void) => {
      const consumer = log.consumer({ groupId, maxWaitTimeInMs: 20, heartbeatInterval: 50 })
      await consumer.subscribe({ topics: ['t'], fromBeginning: true })
      const values: string[] = []
      await consumer.run({ eachMessage: async ({ message }) => { values.push(message.value!.toString()); handle(message.value!) } })
      await until(() => values.length === 2)
      await consumer.disconnect()
      return values
    }
    // (Within one fetch the messages share the reader's buffer, as KafkaJS's Buffers share theirs.)
    const first = await read('a', (v) => { v.fill(0x58); structuredClone(v.buffer, { transfer: [v.buffer as ArrayBuffer] }) })
    expect(first[0]).toBe('hello')
    expect(await read('b', () => {})).toEqual(['hello', 'world'])
  })

  it('the same bytes appended twice in one request are stored at two distinct offsets', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    const batch = encodeBatch([{ key: null, value: new TextEncoder().encode('x'), timestamp: 1 }, { key: null, value: new TextEncoder().encode('y'), timestamp: 1 }])
    const results = await log.broker.produce({ acks: 1, entries: [{ topic: 't', partition: 0, batch }, { topic: 't', partition: 0, batch }] })
    expect(results.map((r) => r.baseOffset)).toEqual([0, 2])
    const { batches } = await log.broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20 })
    expect(batches.flatMap((b) => decodeRecords(b).map((r) => r.offset))).toEqual([0, 1, 2, 3])
  })
})
